# Every tests/unit/test_*.c and tests/stress/stress_*.c is one executable and
# one CTest test, labelled unit or stress; bench smoke tests come from bench.cmake.
file(GLOB FT_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
file(GLOB FT_STRESS_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/stress/stress_*.c)

set(FT_TEST_ENV
  "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1"
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0"
  "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
# TSan on kernels with high mmap randomisation dies with "unexpected memory
# mapping"; running without ASLR avoids it, so TSan tests always do.
set(FT_TEST_LAUNCHER "")
set(FT_TEST_LAUNCHER_STR "")
if(FT_SANITIZE STREQUAL "thread")
  find_program(FT_SETARCH setarch)
  if(FT_SETARCH)
    set(FT_TEST_LAUNCHER ${FT_SETARCH} ${CMAKE_SYSTEM_PROCESSOR} -R)
    set(FT_TEST_LAUNCHER_STR "${FT_SETARCH} ${CMAKE_SYSTEM_PROCESSOR} -R")
  endif()
endif()

function(ft_add_test src label timeout)
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(${name} PRIVATE ftrt ft_warnings ft_sanitize)
  add_test(NAME ${name} COMMAND ${FT_TEST_LAUNCHER} $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT ${timeout}
    ENVIRONMENT "${FT_TEST_ENV}")
endfunction()

foreach(t IN LISTS FT_UNIT_TESTS)
  ft_add_test(${t} unit 120)
endforeach()
foreach(t IN LISTS FT_STRESS_TESTS)
  ft_add_test(${t} stress 300)
endforeach()

# The installed package works for a consumer (find_package and pkg-config);
# once per flavour, in the builds without a sanitizer.
if(FT_SANITIZE STREQUAL "none")
  add_test(NAME install_consumer COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/tests/install/check.sh
    ${CMAKE_BINARY_DIR})
  set_tests_properties(install_consumer PROPERTIES LABELS unit TIMEOUT 120)
endif()
