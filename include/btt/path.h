/* btt/path.h - safety of paths that come from torrents and peers.
 *
 * A torrent names its files; a hostile one tries "../../.bashrc" or "/etc/passwd". Every
 * component must be non-empty and must not be "." or "..", nor contain '/', '\\' or NUL;
 * components are at most 255 bytes and whole paths at most 4095. A component that fails is
 * rejected with an error naming it; nothing is ever written outside the target directory. */
#ifndef BTT_PATH_H
#define BTT_PATH_H

#include <stddef.h>

#include "btt/error.h"

/* Checks one component of len bytes (which may hold NUL bytes, so it is not a C string). */
BTT_WUR btt_err btt_path_check_component(const char *p, size_t len, btt_error *err);

/* Joins dir and a relative, already checked path with '/'. Returns a new string or NULL. */
char *btt_path_join(const char *dir, const char *rel);

/* Creates every missing parent directory of path (mode 0755), not path itself. */
BTT_WUR btt_err btt_path_mkparents(const char *path, btt_error *err);

#endif
