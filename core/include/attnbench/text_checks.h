// Text that crosses the program's edge: names and notes typed on the command line or read from spec
// files are checked on the way in, and anything printed to a terminal is made safe on the way out.
#pragma once

#include <string>
#include <string_view>

namespace attnbench {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool isValidUtf8(std::string_view s);

// InputError naming `what` unless `s` is valid UTF-8 without NUL characters (a NUL would cut the text
// wherever it is handed on as a C string).
void requireCleanText(std::string_view s, const std::string& what);

// `s` with control characters (C0, DEL, C1) and invalid bytes escaped as \n, \t, \r or \xNN, so that
// a name cannot break a table row or send escape sequences to the terminal.
std::string printableText(std::string_view s);

}  // namespace attnbench
