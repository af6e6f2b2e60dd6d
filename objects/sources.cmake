# objects/: sources besides objects/object.c (which CMakeLists.txt lists).
list(APPEND _have_objects
  ${CMAKE_SOURCE_DIR}/objects/type.c
  ${CMAKE_SOURCE_DIR}/objects/singletons.c
  ${CMAKE_SOURCE_DIR}/objects/int.c
  ${CMAKE_SOURCE_DIR}/objects/float.c
  ${CMAKE_SOURCE_DIR}/objects/str.c
  ${CMAKE_SOURCE_DIR}/objects/tuple.c
  ${CMAKE_SOURCE_DIR}/objects/list.c
  ${CMAKE_SOURCE_DIR}/objects/dict.c)
