# install.cmake — the part of `cmake --install` (make install) that must know
# the prefix being installed to, which `--prefix` may change after
# configuration: writes fulcrum.pc and fulcrum.service with the real paths and
# installs them. Included by an install(CODE) in CMakeLists.txt, which sets
# FC_SOURCE_DIR, FC_BINARY_DIR, FC_VERSION and FC_{BIN,LIB,INCLUDE,DOC}DIR
# (GNUInstallDirs' values, relative to the prefix or absolute).
set(FC_PREFIX "${CMAKE_INSTALL_PREFIX}")
if(NOT IS_ABSOLUTE "${FC_PREFIX}")
  message(FATAL_ERROR "fulcrum: the install prefix must be an absolute path, not '${FC_PREFIX}'")
endif()
string(REGEX REPLACE "(.)/+$" "\\1" FC_PREFIX "${FC_PREFIX}")

# absolute paths for the unit; ${prefix}-relative ones for the .pc
foreach(d BIN LIB INCLUDE DOC)
  if(IS_ABSOLUTE "${FC_${d}DIR}")
    set(FC_ABS_${d}DIR "${FC_${d}DIR}")
    set(FC_PC_${d}DIR "${FC_${d}DIR}")
  else()
    set(FC_ABS_${d}DIR "${FC_PREFIX}/${FC_${d}DIR}")
    set(FC_PC_${d}DIR "\${prefix}/${FC_${d}DIR}")
  endif()
endforeach()
set(FC_BINDIR_ABS "${FC_ABS_BINDIR}")
set(FC_DOCDIR_ABS "${FC_ABS_DOCDIR}")

# The unit's directory: $SYSTEMD_UNIT_DIR if set; for a /usr install the one
# systemd's pkg-config file names (/lib/systemd/system on Debian); else
# PREFIX/lib/systemd/system, which systemd reads for /usr/local as well.
set(unit_dir "$ENV{SYSTEMD_UNIT_DIR}")
if(NOT unit_dir AND FC_PREFIX STREQUAL "/usr")
  find_program(FC_PKG_CONFIG pkg-config)
  if(FC_PKG_CONFIG)
    execute_process(COMMAND "${FC_PKG_CONFIG}" --variable=systemdsystemunitdir systemd
                    OUTPUT_VARIABLE unit_dir OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE pc_rc ERROR_QUIET)
    if(NOT pc_rc EQUAL 0)
      set(unit_dir "")
    endif()
  endif()
endif()
if(NOT unit_dir)
  set(unit_dir "${FC_PREFIX}/lib/systemd/system")
endif()

set(gen "${FC_BINARY_DIR}/install-generated")
configure_file("${FC_SOURCE_DIR}/dist/fulcrum.pc.in" "${gen}/fulcrum.pc" @ONLY)
configure_file("${FC_SOURCE_DIR}/dist/fulcrum.service.in" "${gen}/fulcrum.service" @ONLY)
file(INSTALL DESTINATION "${FC_ABS_LIBDIR}/pkgconfig" TYPE FILE FILES "${gen}/fulcrum.pc")
file(INSTALL DESTINATION "${unit_dir}" TYPE FILE FILES "${gen}/fulcrum.service")
