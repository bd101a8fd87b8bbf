# cmake -DMCPD=<binary> -DHELP2MAN=<help2man> -DOUT=<mcpd.1> -P manpage.cmake
# The mcpd(1) manual: help2man reads `mcpd --help` and `mcpd --version`; every subcommand's own
# --help becomes a section of its own, so the manual says what the binary says.
set(include_file ${OUT}.sections)
file(WRITE ${include_file} "[DESCRIPTION]\nmcpd serves MCP tools over Streamable HTTP (every revision \
from 2024-11-05 to 2026-07-28), legacy HTTP+SSE and stdio, with guards (cache, rate limits, \
locks), health, readiness and metrics, and holds users' MCP client connections for web apps. \
Its state lives in SQLite by default, or in memory, a JSON file, PostgreSQL or Redis.\n\n")
foreach(sub serve "config print" health "redis ping" sessions "gateway token")
  separate_arguments(args UNIX_COMMAND "${sub} --help")
  execute_process(COMMAND ${MCPD} ${args} OUTPUT_VARIABLE help RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mcpd ${sub} --help failed (${rc})")
  endif()
  # roff: a line starting with '.' or '\'' would be read as a request.
  string(REPLACE "\\" "\\e" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(TOUPPER "${sub}" title)
  file(APPEND ${include_file} "[MCPD ${title}]\n.nf\n${help}\n.fi\n\n")
endforeach()
file(APPEND ${include_file} "[FILES]\n.TP\n./sessions.db\nthe default session storage \
(MCP_TS_STORAGE_SQLITE_PATH)\n.TP\n/usr/lib/systemd/system/mcpd.service\nthe systemd unit (state in \
/var/lib/mcpd)\n\n[SEE ALSO]\nThe README and docs/ of the mcpd source: architecture, operations, \
guards, gateway.\n")
execute_process(COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section 1
                        --name "Model Context Protocol runtime whose state survives restarts"
                        --include ${include_file} --output ${OUT} ${MCPD}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed (${rc})")
endif()
# Installed compressed, as Debian keeps manuals.
get_filename_component(dir ${OUT} DIRECTORY)
get_filename_component(name ${OUT} NAME)
file(ARCHIVE_CREATE OUTPUT ${OUT}.gz PATHS ${OUT} FORMAT raw COMPRESSION GZip)
