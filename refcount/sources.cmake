# refcount/sources.cmake: the one-build mechanism files of refcount/
# (DESIGN.md §2: CMake selects them; refcount/refcount.c, shared by every
# build, comes from FT_SRC_refcount in CMakeLists.txt).
#   biased counting (FT build, FT_REFCOUNT=biased)  -> brc.c
#   atomic counting (FT_REFCOUNT=atomic), GIL build -> atomic_rc.c
if(NOT FT_GIL AND FT_REFCOUNT STREQUAL "biased")
  list(APPEND _have_refcount ${CMAKE_SOURCE_DIR}/refcount/brc.c)
else()
  list(APPEND _have_refcount ${CMAKE_SOURCE_DIR}/refcount/atomic_rc.c)
endif()
