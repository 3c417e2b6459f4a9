/* btt/resume.h - resume data: which pieces are verified, so a restart does not re-hash or
 * re-download them. A bencoded file written atomically (temporary file, fsync, rename). It
 * records each file's size and modification time; on load, pieces touching a file that
 * changed since are dropped, so edited or truncated data is never trusted. */
#ifndef BTT_RESUME_H
#define BTT_RESUME_H

#include "btt/bitfield.h"
#include "btt/error.h"
#include "btt/metainfo.h"
#include "btt/storage.h"

BTT_WUR btt_err btt_resume_save(const char *path, const btt_metainfo *mi, btt_storage *st,
                                const btt_bitfield *have, btt_error *err);

/* have must be initialized with mi->num_pieces bits; it receives the trusted pieces.
 * Pieces the resume data claims but that touch a file changed since it was saved (a process
 * killed after writing more data changes the mtime) are not trusted: they go to recheck
 * (same size as have, may be NULL) so the caller can hash them instead of fetching them
 * again. BTT_ENOENT if there is no resume file; BTT_ERESUME if it is damaged or for another
 * torrent (have is then left clear). */
BTT_WUR btt_err btt_resume_load(const char *path, const btt_metainfo *mi, btt_storage *st, btt_bitfield *have,
                                btt_bitfield *recheck, btt_error *err);

#endif
