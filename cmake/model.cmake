# Promela models of the concurrency protocols (tests/model/*.pml), checked
# exhaustively by spin (DESIGN.md §4.8): model_mutex (ft_mutex parking and
# handoff), model_brc (biased refcount queue/merge states), model_qsbr (grace
# periods). They do not depend on the build flavour, so only the presets
# without a sanitizer register them (one run per `./ftrt test`, not five),
# and only where spin is installed (Debian package `spin`).
if(FT_BUILD_TESTS AND FT_SANITIZE STREQUAL "none")
  find_program(FT_SPIN spin)
  if(NOT FT_SPIN)
    message(STATUS "ftrt: spin not found; model_* tests (tests/model/) not registered")
  else()
    foreach(model mutex brc qsbr)
      add_test(NAME model_${model}
        COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/tests/model/check.sh ${model})
      set_tests_properties(model_${model} PROPERTIES LABELS model TIMEOUT 300
        ENVIRONMENT "SPIN=${FT_SPIN};CC=${CMAKE_C_COMPILER}")
    endforeach()
  endif()
endif()
