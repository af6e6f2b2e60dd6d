# Every bench/bench_*.c is one executable. Each also runs as a CTest smoke
# test (`--smoke`: tiny work, results verified, no timing output).
file(GLOB FT_BENCHES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bench/bench_*.c)
foreach(src IN LISTS FT_BENCHES)
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/bench)
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(${name} PRIVATE ftrt ft_warnings ft_sanitize m)
  if(FT_BUILD_TESTS)
    add_test(NAME ${name}_smoke COMMAND ${FT_TEST_LAUNCHER} $<TARGET_FILE:${name}> --smoke)
    set_tests_properties(${name}_smoke PROPERTIES LABELS bench-smoke TIMEOUT 120
      ENVIRONMENT "${FT_TEST_ENV}")
  endif()
endforeach()
