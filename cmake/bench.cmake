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

# ftbench: the workload suite CLI (bench/ftbench/*.c), smoke-tested in every
# test preset and run by `./ftrt compare` in the release presets.
file(GLOB FT_FTBENCH_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bench/ftbench/*.c)
if(FT_FTBENCH_SRC)
  add_executable(ftbench ${FT_FTBENCH_SRC})
  target_include_directories(ftbench PRIVATE ${CMAKE_SOURCE_DIR}/bench)
  target_compile_definitions(ftbench PRIVATE _GNU_SOURCE)
  target_link_libraries(ftbench PRIVATE ftrt ft_warnings ft_sanitize m)
  if(FT_BUILD_TESTS)
    add_test(NAME ftbench_smoke COMMAND ${FT_TEST_LAUNCHER} $<TARGET_FILE:ftbench> --smoke --workload all --threads 1,2)
    set_tests_properties(ftbench_smoke PROPERTIES LABELS bench-smoke TIMEOUT 300
      ENVIRONMENT "${FT_TEST_ENV}")
    if(EXISTS ${CMAKE_SOURCE_DIR}/bench/check_json.py)
      add_test(NAME ftbench_json COMMAND ${CMAKE_COMMAND} -E env ${FT_TEST_ENV}
        /bin/sh -c "${FT_TEST_LAUNCHER_STR} $<TARGET_FILE:ftbench> --smoke --workload all --threads 1 --json ${CMAKE_BINARY_DIR}/ftbench_smoke.json && /usr/bin/python3 ${CMAKE_SOURCE_DIR}/bench/check_json.py ${CMAKE_BINARY_DIR}/ftbench_smoke.json")
      set_tests_properties(ftbench_json PROPERTIES LABELS bench-smoke TIMEOUT 300)
    endif()
  endif()
endif()
