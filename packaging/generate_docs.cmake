# Writes the manual pages and the bash completion into OUT (build time):
#   man1/  sluice-cli*.1.gz from `sluice-cli --help-man`, sluice.1.gz from
#          `sluice --help-man` (when DESKTOP is given)
#   man5/  sluice-config.5.gz, sluice-workload.5.gz from docs/*.md
#   completion/sluice-cli from `sluice-cli --help-completion`
# Pages of subcommands that no longer exist must not linger, so OUT is
# rebuilt from empty.
foreach(var CLI MD2MAN SOURCE_DIR OUT VERSION GZIP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "generate_docs.cmake: ${var} is not set")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "generate_docs.cmake: failed (${rc}): ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE ${OUT}/man1 ${OUT}/man5 ${OUT}/completion)
file(MAKE_DIRECTORY ${OUT}/man1 ${OUT}/man5 ${OUT}/completion)

run(${CLI} --help-man ${OUT}/man1)
if(DEFINED DESKTOP)
  run(${DESKTOP} --help-man ${OUT}/man1)
endif()
run(${MD2MAN} ${SOURCE_DIR}/docs/configuration.md ${OUT}/man5/sluice-config.5 sluice-config 5
  "the configuration file of sluice-cli and the Sluice console" ${VERSION})
run(${MD2MAN} ${SOURCE_DIR}/docs/loadtest.md ${OUT}/man5/sluice-workload.5 sluice-workload 5
  "the load-test workload file of sluice-cli loadtest and the console" ${VERSION} "Workload file" "Report")

execute_process(COMMAND ${CLI} --help-completion OUTPUT_FILE ${OUT}/completion/sluice-cli RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "generate_docs.cmake: sluice-cli --help-completion failed (${rc})")
endif()

file(GLOB pages ${OUT}/man1/*.1 ${OUT}/man5/*.5)
foreach(page IN LISTS pages)
  run(${GZIP} -9nf ${page})
endforeach()
file(TOUCH ${OUT}/docs.stamp)
