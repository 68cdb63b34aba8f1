# ncs_plugin.h declares no host function: a kernel that calls one fails to compile, instead of
# compiling and then failing at dlopen. Run by ctest with -DCC=<C compiler> -DINCLUDE=<native/include>
# -DSOURCE=<tests/fixtures/host_call_plugin.c>. The source compiles as it is (so a failure below
# is the host calls', not a broken command), and with -DNCS_CALL_HOST its calls of
# ncs_buffer_alloc and ncs_dtype_name must be refused as undeclared.
cmake_minimum_required(VERSION 3.20)
foreach(var CC INCLUDE SOURCE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
set(flags -std=c11 -fsyntax-only -Wall -Werror -Werror=implicit-function-declaration -I${INCLUDE})

execute_process(COMMAND ${CMAKE_COMMAND} -E env LC_ALL=C ${CC} ${flags} ${SOURCE} RESULT_VARIABLE result ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the plugin does not compile even without host calls:\n${errors}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -E env LC_ALL=C ${CC} ${flags} -DNCS_CALL_HOST ${SOURCE} RESULT_VARIABLE result ERROR_VARIABLE errors)
if(result EQUAL 0)
  message(FATAL_ERROR "a plugin calling ncs_buffer_alloc and ncs_dtype_name compiled against ncs_plugin.h")
endif()
foreach(name ncs_buffer_alloc ncs_dtype_name)
  if(NOT errors MATCHES "(implicit declaration of function|undeclared function) .${name}.")
    message(FATAL_ERROR "the compiler did not refuse ${name} as undeclared:\n${errors}")
  endif()
endforeach()
message(STATUS "refused as undeclared: ncs_buffer_alloc, ncs_dtype_name")
