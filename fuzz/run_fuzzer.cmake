# Runs one fuzzer for CTest: first every input under REGRESSIONS (each a
# crash found before, fixed since), then SECONDS of fuzzing from a copy of
# the seed corpus CORPUS in WORK. Fails on any crash, leak or sanitizer
# report; the input that caused it is left in WORK.
foreach(var FUZZER CORPUS REGRESSIONS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()

file(GLOB regressions LIST_DIRECTORIES false "${REGRESSIONS}/*")
if(regressions)
  execute_process(COMMAND ${FUZZER} ${regressions} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${FUZZER}: a regression input under ${REGRESSIONS} fails again (exit ${rc})")
  endif()
endif()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds LIST_DIRECTORIES false "${CORPUS}/*")
if(NOT seeds)
  message(FATAL_ERROR "${CORPUS}: no seed inputs")
endif()
file(COPY ${seeds} DESTINATION ${WORK}/corpus)
# A fixed seed: what make test finds, every run finds again (make fuzz,
# scripts/fuzz.sh, explores with a fresh seed each time).
execute_process(COMMAND ${FUZZER} -seed=1 -max_total_time=${SECONDS} -print_final_stats=1
                        -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER}: crashed (exit ${rc}); the input is in ${WORK}/artifacts")
endif()
