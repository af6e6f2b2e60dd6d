#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_api.c into tests/fuzz/corpus/.

Each seed is a byte program in the fuzzer's encoding (see the step functions
in fuzz_api.c, whose order the OP table below must follow). The seeds reach
every step, the contract's error kinds, dict and list growth, self-extension,
cycles and fault injection, so a short fuzzing run starts from deep states.
Deterministic: rerunning rewrites the same files.

    python3 tests/fuzz/make_corpus.py
"""
import os
import random
import struct

OP = {name: i for i, name in enumerate([
    "int", "float", "str", "singleton", "list", "dict", "tuple",
    "append", "set", "get", "pop", "extend",
    "dset", "dget", "ddel", "dupdate",
    "tget", "len", "hash_eq", "values",
])}
FAULT = 0xFE
COLLECT = 0xFD
NULL = 0xFF            # operand byte: NULL
ANY = 0xC0             # operand byte ANY + r: record r, whatever its kind
EXTREME = 0xF8         # index bytes 0xF8 ... 0xFF: INT64_MIN, INT64_MAX, -1, ...
K = {"any": 0, "none": 1, "bool": 2, "int": 3, "float": 4, "str": 5,
     "tuple": 6, "list": 7, "dict": 8}


def index(i):
    """The index byte for i (-2 ... len + 1), or an EXTREME byte as is."""
    return i if i >= EXTREME else i + 2


class Prog:
    def __init__(self):
        self.b = bytearray()

    def emit(self, *xs):
        for x in xs:
            if isinstance(x, (bytes, bytearray)):
                self.b += x
            else:
                self.b.append(x & 0xFF)
        return self

    # constructors
    def small_int(self, v):           # -5 ... 256: immortal
        return self.emit(OP["int"], 0, v + 5)

    def big_int(self, v):
        return self.emit(OP["int"], 2, struct.pack(">q", v))

    def edge_int(self, i):
        return self.emit(OP["int"], 3, i)

    def float_special(self, i):       # 0.0 -0.0 1.0 -1.5 1e300 5e-324 inf nan
        return self.emit(OP["float"], 0, i)

    def float_value(self, v):
        return self.emit(OP["float"], 1, struct.pack(">d", v))

    def str(self, s, null=False):
        mode = len(s) if not null else 0xF0 + ((len(s) - 0xF0) % 9)
        return self.emit(OP["str"], mode, s)

    def cstr(self, s):                # ft_str_from_cstr: the bytes up to the first NUL
        return self.emit(OP["str"], 0x80 + (len(s) - 0x80) % 9, s)

    def singleton(self, which):       # 0 None, 1 True, 2 False
        return self.emit(OP["singleton"], which)

    def list(self):
        return self.emit(OP["list"])

    def dict(self):
        return self.emit(OP["dict"])

    def tuple(self, *items, null_array=False):
        mode = len(items) if not null_array else 0xF0 + ((len(items) - 0xF0) % 5)
        return self.emit(OP["tuple"], mode, *items)

    # calls; operands are pick bytes
    def append(self, l, x):
        return self.emit(OP["append"], l, x)

    def set(self, l, i, x):
        return self.emit(OP["set"], l, index(i), x)

    def get(self, l, i):
        return self.emit(OP["get"], l, index(i))

    def pop(self, l):
        return self.emit(OP["pop"], l)

    def extend(self, l, other, tuple_first=0, itself=False):
        return self.emit(OP["extend"], l, tuple_first, other, 0 if itself else 1)

    def dset(self, d, keykind, key, value):
        return self.emit(OP["dset"], d, K[keykind], key, value)

    def dget(self, d, keykind, key, null_out=False):
        return self.emit(OP["dget"], d, K[keykind], key, 0xEE if null_out else 0)

    def ddel(self, d, keykind, key):
        return self.emit(OP["ddel"], d, K[keykind], key)

    def dupdate(self, d, other, itself=False):
        return self.emit(OP["dupdate"], d, other, 0 if itself else 1)

    def tget(self, t, i):
        return self.emit(OP["tget"], t, index(i))

    def length(self, which, x):       # 0 list, 1 dict, 2 tuple, 3 str
        return self.emit(OP["len"], which, x)

    def hash_eq(self, kind, a, b):
        return self.emit(OP["hash_eq"], K[kind], a, b)

    def values(self, kind, x):
        return self.emit(OP["values"], K[kind], x)

    def collect(self):
        return self.emit(COLLECT)

    def fault(self, k):               # fail the k-th allocation (1..4) of the next step
        return self.emit(FAULT, k - 1)


def seeds():
    out = {}

    p = Prog().list()
    for i, v in enumerate((1, 2, 300, -7)):
        (p.small_int(v) if -5 <= v <= 256 else p.big_int(v)).append(0, ANY + 1 + i)
    p.get(0, 2).get(0, 0).get(0, 9).pop(0).pop(0).length(0, 0)
    out["list_basic"] = p

    p = Prog().list().small_int(5).append(0, ANY + 1)
    for _ in range(6):
        p.extend(0, 0, itself=True)
    p.length(0, 0).get(0, 0xF9).get(0, 0xF8).pop(0)
    out["list_extend_self"] = p

    p = Prog().list().list().tuple().small_int(3).str(b"ab")
    p.tuple(ANY + 3, ANY + 4, ANY + 3)
    p.append(0, ANY + 3).extend(0, 0, tuple_first=1).extend(1, 1).extend(0, NULL)
    p.extend(ANY + 3, 0).length(0, 0).length(0, ANY + 1)
    out["list_extend_tuple"] = p

    p = Prog().list()
    for i in range(40):
        p.small_int(i % 200).append(0, ANY + 1 + i)
    for i in range(35):
        p.pop(0)
    p.length(0, 0)
    out["list_grow_shrink"] = p

    p = Prog().dict().small_int(1).float_special(2).singleton(1).str(b"1")
    for key in ("int", "float", "bool", "str"):
        p.dset(0, key, 0, ANY + 1)
    p.length(1, 0).dget(0, "int", 0).dget(0, "float", 0).ddel(0, "bool", 0)
    p.ddel(0, "bool", 0).dget(0, "bool", 0).length(1, 0)
    out["dict_type_strict"] = p

    p = Prog().dict().float_special(7).float_special(7).float_special(0).float_special(1)
    for i in range(4):
        p.dset(0, "float", i, ANY + i)
    p.hash_eq("float", 0, 1).hash_eq("float", 2, 3).dget(0, "float", 0)
    p.ddel(0, "float", 1).ddel(0, "float", 3).length(1, 0)
    out["dict_nan_zero"] = p

    p = Prog().dict()
    for i in range(30):
        p.str(bytes([65 + i % 26]) * (1 + i % 7))
        p.dset(0, "str", i, ANY + 1 + i % 3)
    for i in range(0, 30, 3):
        p.ddel(0, "str", i)
    for i in range(30):
        p.dget(0, "str", i)
    p.length(1, 0)
    out["dict_grow_delete"] = p

    p = Prog().dict().dict().small_int(7).big_int(10**12).str(b"k")
    p.dset(0, "int", 0, ANY + 4).dset(0, "int", 1, ANY + 2).dset(1, "str", 0, 0)
    p.dset(1, "int", 0, 1).dupdate(0, 1).dupdate(1, 0).dupdate(0, 0, itself=True)
    p.dupdate(0, NULL).dupdate(ANY + 2, 0).length(1, 0).length(1, 1)
    out["dict_update"] = p

    p = Prog().small_int(1).str(b"x").list()
    p.tuple(ANY + 0, ANY + 1).tuple(ANY + 0, ANY + 1).tuple(ANY + 0, ANY + 2)
    p.dict().dset(0, "tuple", 0, ANY).dget(0, "tuple", 1).dset(0, "tuple", 2, ANY)
    p.hash_eq("tuple", 0, 1).hash_eq("tuple", 0, 2).tget(0, 1).tget(0, 2).tget(0, -1)
    p.tget(ANY + 2, 0)
    out["tuple_keys"] = p

    p = Prog().tuple(NULL).tuple(null_array=True).tuple().tuple().small_int(0)
    p.tuple(ANY, null_array=True)
    p.tuple(ANY, ANY, ANY, ANY).length(2, 0).tget(0, 0xF8).tget(0, 0xFB)
    out["tuple_errors"] = p

    p = Prog().list().dict().small_int(2)
    p.append(ANY + 1, 0).append(NULL, 0).append(0, NULL)
    p.set(ANY + 1, 0, 0).set(NULL, 0, 0).set(0, 0, NULL).set(0, 5, 0)
    p.get(ANY + 1, 0).get(NULL, 0).get(0, 0).pop(ANY + 1).pop(NULL).pop(0)
    p.dset(0, "list", 0, 1).dset(NULL, "int", 0, 0).dset(1, "int", 0, NULL)
    p.dget(1, "int", 0, null_out=True).ddel(1, "dict", 0).ddel(1, "int", 0)
    p.dget(0, "any", 0).dupdate(0, 1)
    out["wrong_types"] = p

    p = Prog().list().small_int(4).append(0, ANY + 1).append(0, ANY + 1)
    for b in range(0xF8, 0x100):
        p.get(0, b).set(0, b, ANY + 1)
    p.get(0, -1).get(0, 0).get(0, 1).get(0, 2).set(0, 1, NULL).set(0, -2, ANY)
    p.pop(0).pop(0).pop(0)
    out["list_indices"] = p

    p = Prog().list().dict().append(0, 0).append(0, ANY + 1).small_int(9)
    p.dset(0, "int", 0, 0).dset(0, "int", 0, ANY + 0).collect()
    p.tuple(ANY, ANY + 1).append(0, ANY + 3).collect()
    out["cycles"] = p

    p = Prog().str(b"").str(b"hello").str(b"a\x00b").str(b"xyz", null=True)
    p.str(b"", null=True).str(b"hello").cstr(b"hello").cstr(b"ab\x00cd").cstr(b"")
    for i in range(9):
        p.values("str", i).length(3, ANY + i)
    p.hash_eq("str", 1, 4).hash_eq("str", 0, 2).hash_eq("str", 1, 5).hash_eq("str", 0, 7)
    out["strings"] = p

    p = Prog()
    for i in range(8):
        p.edge_int(i)
    for i in range(8):
        p.float_special(i)
    p.float_value(3.25).big_int(-(2**63)).singleton(0).singleton(1).singleton(2)
    for i in range(22):
        p.values("any", ANY + i)
        p.hash_eq("any", ANY + i, ANY + (i * 7) % 22)
    p.values("any", NULL).hash_eq("any", NULL, 0)
    out["scalars"] = p

    p = Prog().list().dict().small_int(1).big_int(1000).str(b"s")
    p.fault(1).append(0, ANY + 3).fault(1).dset(0, "int", 0, ANY)
    p.fault(1).big_int(5000).fault(1).str(b"abc").fault(1).float_special(2)
    p.fault(1).list().fault(1).dict().fault(1).tuple(ANY + 2, ANY + 3)
    out["fault_constructors"] = p

    p = Prog().list().dict().dict().small_int(7)
    for i in range(6):
        p.append(0, ANY + 3).small_int(20 + i).dset(1, "int", i, 0)
    for k in (1, 2, 3):
        p.fault(k).extend(0, 0, itself=True)
        p.fault(k).dupdate(2, 1)
        p.fault(k).append(0, ANY + 3)
        p.fault(k).collect()
    p.fault(1).pop(0).fault(1).ddel(1, "int", 0).length(0, 0)
    out["fault_containers"] = p

    rnd = random.Random(0x7E57)
    for n in range(14):
        p = Prog()
        for _ in range(4):
            p.emit(rnd.choice([OP["list"], OP["dict"]]))
        for _ in range(rnd.randint(20, 80)):
            step = rnd.randrange(len(OP) + 2)
            if step == len(OP) + 1:
                step = COLLECT
            elif step == len(OP):
                p.fault(rnd.randint(1, 4))
                step = rnd.randrange(len(OP))
            p.emit(step)
            for _ in range(rnd.randint(1, 4)):
                p.emit(rnd.choice([rnd.randrange(0xC0), rnd.randrange(0x100), 0]))
        out["random_%02d" % n] = p
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.join(here, "corpus")
    os.makedirs(corpus, exist_ok=True)
    for name, prog in sorted(seeds().items()):
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(bytes(prog.b))
    print("wrote %d seeds to %s" % (len(seeds()), corpus))


if __name__ == "__main__":
    main()
