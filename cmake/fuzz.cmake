# The libFuzzer API fuzzer (tests/fuzz/fuzz_api.c), built only in the `fuzz`
# preset: clang, Debug, FT_SANITIZE=address (libc malloc), FT_FUZZ=ON. The
# gcc presets leave FT_FUZZ OFF and never see this target.
#
# The runtime's object libraries get -fsanitize=fuzzer-no-link so that
# libFuzzer's coverage feedback reaches inside list.c, dict.c, ... and not
# just the harness. The smoke test runs over a copy of the committed seed
# corpus (tests/fuzz/corpus/), so new inputs accumulate in the build folder
# and the committed corpus is never written.
option(FT_FUZZ "Build the libFuzzer API fuzzer (clang only; the fuzz preset)" OFF)
set(FT_FUZZ_SECONDS 60 CACHE STRING "Seconds the fuzz_api_smoke test fuzzes for")

if(FT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(WARNING "ftrt: FT_FUZZ=ON needs clang (libFuzzer); the fuzzer is not built "
      "with ${CMAKE_C_COMPILER_ID}")
  else()
    if(NOT FT_SANITIZE STREQUAL "address")
      message(WARNING "ftrt: FT_FUZZ=ON without FT_SANITIZE=address: memory errors "
        "will go unnoticed (the fuzz preset sets it)")
    endif()
    foreach(sub IN LISTS FT_SUBSYSTEMS)
      target_compile_options(ft_${sub} PRIVATE -fsanitize=fuzzer-no-link)
    endforeach()

    add_executable(fuzz_api ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_api.c)
    target_compile_definitions(fuzz_api PRIVATE _GNU_SOURCE)
    target_compile_options(fuzz_api PRIVATE -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_link_options(fuzz_api PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_api PRIVATE ftrt ft_warnings ft_sanitize)

    enable_testing()
    set(_fuzz_work ${CMAKE_BINARY_DIR}/fuzz/corpus)
    add_test(NAME fuzz_api_corpus
      COMMAND ${CMAKE_COMMAND} -E copy_directory ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus ${_fuzz_work})
    add_test(NAME fuzz_api_smoke
      COMMAND $<TARGET_FILE:fuzz_api> -max_total_time=${FT_FUZZ_SECONDS} -timeout=10
        -max_len=1024 -print_final_stats=1
        -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz/ ${_fuzz_work}
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(fuzz_api_corpus PROPERTIES LABELS fuzz FIXTURES_SETUP fuzz_corpus)
    math(EXPR _fuzz_timeout "${FT_FUZZ_SECONDS} + 120")
    set_tests_properties(fuzz_api_smoke PROPERTIES LABELS fuzz FIXTURES_REQUIRED fuzz_corpus
      TIMEOUT ${_fuzz_timeout}
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
  endif()
endif()
