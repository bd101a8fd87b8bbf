# What `cmake --install` puts where, and the packages CPack builds from it.
#
#   include/mcpd/…                 the public headers (and the generated mcpd/version.hpp)
#   lib/libmcpd_<layer>.a (.so)    one library per layer (static; shared with BUILD_SHARED_LIBS)
#   lib/cmake/mcpd/                mcpdConfig.cmake: find_package(mcpd COMPONENTS …) gives
#                                  mcpd::redis, mcpd::store, mcpd::server, mcpd::client,
#                                  mcpd::gateway and mcpd::mcpd (all of them)
#   lib/pkgconfig/mcpd.pc          the same for pkg-config users (every layer)
#   bin/mcpd                       the daemon and admin CLI
#   share/man/man1/mcpd.1.gz       its manual, made from its --help (help2man)
#   lib/systemd/system/mcpd.service  the hardened unit (packaging/mcpd.service.in)
#
# Components: `runtime` (the daemon, its manual and unit) and `development` (headers, libraries,
# CMake and pkg-config files). CPack makes a .deb of each (mcpd, libmcpd-dev); the runtime's
# dependencies are what dpkg-shlibdeps finds the binary linked against.
include(CMakePackageConfigHelpers)

get_property(mcpd_libraries GLOBAL PROPERTY MCPD_LIBRARIES)
# mcpd::mcpd: every layer at once.
add_library(mcpd_all INTERFACE)
set_target_properties(mcpd_all PROPERTIES EXPORT_NAME mcpd)
target_link_libraries(mcpd_all INTERFACE ${mcpd_libraries})
add_library(mcpd::mcpd ALIAS mcpd_all)
set_target_properties(mcpd_build_settings PROPERTIES EXPORT_NAME build_settings)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mcpd
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)
install(FILES ${PROJECT_BINARY_DIR}/include/mcpd/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mcpd COMPONENT development)
install(TARGETS ${mcpd_libraries} mcpd_all mcpd_build_settings EXPORT mcpdTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
                NAMELINK_COMPONENT development)
install(EXPORT mcpdTargets NAMESPACE mcpd:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mcpd
        COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/mcpdConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mcpdConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mcpd)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mcpdConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mcpdConfig.cmake ${PROJECT_BINARY_DIR}/mcpdConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mcpd COMPONENT development)

# pkg-config: the layers from the top down (a static link needs that order).
set(mcpd_pc_libs "")
foreach(layer gateway client server guard store http redis redis_proto protocol core)
  string(APPEND mcpd_pc_libs " -lmcpd_${layer}")
endforeach()
get_target_property(mcpd_pc_definitions mcpd_build_settings INTERFACE_COMPILE_DEFINITIONS)
list(TRANSFORM mcpd_pc_definitions PREPEND "-D")
list(JOIN mcpd_pc_definitions " " mcpd_pc_cflags)
configure_file(${CMAKE_CURRENT_LIST_DIR}/mcpd.pc.in ${PROJECT_BINARY_DIR}/mcpd.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mcpd.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT development)

# With shared libraries the installed binary finds them in the prefix's lib/, and each library
# the ones it needs beside it (a RUNPATH is not inherited by what a library loads), wherever
# the prefix is.
if(BUILD_SHARED_LIBS)
  set_target_properties(mcpd PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  set_target_properties(${mcpd_libraries} PROPERTIES INSTALL_RPATH "$ORIGIN")
endif()
install(TARGETS mcpd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# The manual, from the binary's own help (every subcommand's), so that it cannot drift.
find_program(MCPD_HELP2MAN help2man)
if(MCPD_HELP2MAN)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/mcpd.1 ${PROJECT_BINARY_DIR}/mcpd.1.gz
    COMMAND ${CMAKE_COMMAND} -DMCPD=$<TARGET_FILE:mcpd> -DHELP2MAN=${MCPD_HELP2MAN}
            -DOUT=${PROJECT_BINARY_DIR}/mcpd.1 -P ${CMAKE_CURRENT_LIST_DIR}/manpage.cmake
    DEPENDS mcpd ${CMAKE_CURRENT_LIST_DIR}/manpage.cmake
    COMMENT "Writing the mcpd(1) manual from mcpd --help")
  add_custom_target(mcpd_manual ALL DEPENDS ${PROJECT_BINARY_DIR}/mcpd.1)
  install(FILES ${PROJECT_BINARY_DIR}/mcpd.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT runtime)
else()
  message(STATUS "help2man not found: no mcpd(1) manual (scripts/install-deps installs it)")
endif()

# The systemd unit names the installed binary: where it is is known at install time (CPack
# installs under /usr, `cmake --install` under the prefix it is given), so it is written then.
install(CODE "
  set(MCPD_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/mcpd.service.in\"
                 \"${PROJECT_BINARY_DIR}/installed-unit/mcpd.service\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
       FILES \"${PROJECT_BINARY_DIR}/installed-unit/mcpd.service\")
" COMPONENT runtime)

set(CPACK_PACKAGE_NAME mcpd)
set(CPACK_PACKAGE_VENDOR "mcpd")
set(CPACK_PACKAGE_CONTACT "mcpd developers <mcpd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Model Context Protocol runtime whose state survives restarts and is shared by a fleet")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME mcpd)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libmcpd-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The static libraries are linked with these (the headers need only Boost).
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libboost1.81-dev, libssl-dev, libspdlog-dev, libfmt-dev, libsqlite3-dev, libpq-dev, pkg-config")
# Shared libraries are the runtime component's (the daemon loads them): the -dev package needs it.
if(BUILD_SHARED_LIBS)
  string(APPEND CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS ", mcpd (= ${PROJECT_VERSION})")
endif()
include(CPack)
