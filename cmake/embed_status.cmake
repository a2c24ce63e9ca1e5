# embed_status.cmake — turns the status page (src/admin/status.html) into a C
# source: fc_status_html[] and fc_status_html_len, the page's bytes, and
# fc_status_csp, a Content-Security-Policy that lets exactly its one inline
# <style> and one inline <script> run, named by their SHA-256 (CSP3 hash
# sources), and nothing load from anywhere but the API on the same origin.
# CMake only, so a fresh Debian needs no xxd:
#   cmake -DIN=src/admin/status.html -DOUT=build/generated/status_html.c -P cmake/embed_status.cmake

if(NOT IN OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DIN=page.html -DOUT=page.c -P embed_status.cmake")
endif()
file(READ "${IN}" html)
file(READ "${IN}" hex HEX)

# The text between <tag> and </tag>, which must appear exactly once: a
# second element would be refused by the policy, and a test would catch it
# only at run time.
function(inline_element tag out)
  string(FIND "${html}" "<${tag}>" open)
  string(FIND "${html}" "<${tag}>" open_last REVERSE)
  string(FIND "${html}" "</${tag}>" close)
  string(FIND "${html}" "</${tag}>" close_last REVERSE)
  if(open LESS 0 OR close LESS open OR NOT open EQUAL open_last OR NOT close EQUAL close_last)
    message(FATAL_ERROR "${IN}: needs exactly one <${tag}> ... </${tag}> (no attributes)")
  endif()
  string(LENGTH "<${tag}>" tl)
  math(EXPR start "${open} + ${tl}")
  math(EXPR len "${close} - ${start}")
  string(SUBSTRING "${html}" ${start} ${len} body)
  set(${out} "${body}" PARENT_SCOPE)
endfunction()

# 'sha256-<base64 of the digest>' of a text: CMake gives the digest in hex.
function(csp_hash text out)
  string(SHA256 digest "${text}")
  set(tab "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  string(LENGTH "${digest}" n)
  set(b64 "")
  set(i 0)
  while(i LESS n)
    string(SUBSTRING "${digest}" ${i} 6 chunk) # three bytes, fewer at the end
    string(LENGTH "${chunk}" cl)
    math(EXPR nbytes "${cl} / 2")
    math(EXPR v "0x${chunk} << (8 * (3 - ${nbytes}))")
    foreach(shift 18 12 6 0)
      math(EXPR emitted "(18 - ${shift}) / 6")
      if(emitted GREATER nbytes)
        string(APPEND b64 "=")
      else()
        math(EXPR idx "(${v} >> ${shift}) & 63")
        string(SUBSTRING "${tab}" ${idx} 1 c)
        string(APPEND b64 "${c}")
      endif()
    endforeach()
    math(EXPR i "${i} + 6")
  endwhile()
  set(${out} "'sha256-${b64}'" PARENT_SCOPE)
endfunction()

inline_element(style style_text)
inline_element(script script_text)
csp_hash("${style_text}" style_hash)
csp_hash("${script_text}" script_hash)
set(csp "default-src 'none'; script-src ${script_hash}; style-src ${style_hash}; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 16 row) # CMake's regex has no {16}
string(REGEX REPLACE "(${row})" "\\1\n\t" bytes "${bytes}")

file(WRITE "${OUT}" "/* Generated from src/admin/status.html by cmake/embed_status.cmake: do not edit. */
#include \"admin/status_page.h\"

const unsigned char fc_status_html[] = {
\t${bytes}
};
const size_t fc_status_html_len = ${size};
const char fc_status_csp[] = \"${csp}\";
")
