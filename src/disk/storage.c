/* storage.c - the torrent's byte stream on files: pread/pwrite, sparse files, padding.
 *
 * BEP 47: "padding files ... clients aware of this extension don't need to write them to
 * disk" - they read as zeros here and are never created. A small fd cache keeps files open;
 * a file in use by a thread is never closed under it (reference counts). */
#include "btt/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btt/path.h"

#define MAX_OPEN_FILES 256

typedef struct sfile {
    char *path;
    int fd;       /* -1 when closed */
    int refs;     /* threads using fd */
    bool created; /* opened for writing (and sized) */
    uint64_t lru; /* last use tick */
    pthread_mutex_t wlock; /* one writer per file: concurrent buffered writes to one inode
                              only spin on its lock in the kernel */
} sfile;

struct btt_storage {
    const btt_metainfo *mi;
    unsigned mode;
    sfile *files;
    size_t num_open;
    uint64_t tick;
    pthread_mutex_t lock;
};

btt_err btt_storage_open(const btt_metainfo *mi, const char *dir, unsigned mode, btt_storage **out, btt_error *err)
{
    *out = NULL;
    btt_storage *st = calloc(1, sizeof *st);
    if (!st || !(st->files = calloc(mi->num_files, sizeof *st->files))) {
        free(st);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    st->mi = mi;
    st->mode = mode;
    pthread_mutex_init(&st->lock, NULL);
    char *root = btt_path_join(dir, mi->name);
    for (size_t i = 0; i < mi->num_files; i++) {
        st->files[i].fd = -1;
        pthread_mutex_init(&st->files[i].wlock, NULL);
        st->files[i].path = !root ? NULL : mi->multi_file ? btt_path_join(root, mi->files[i].path) : strdup(root);
        if (!st->files[i].path) {
            free(root);
            btt_storage_close(st);
            return btt_error_set(err, BTT_ENOMEM, "out of memory");
        }
    }
    free(root);
    *out = st;
    return BTT_OK;
}

void btt_storage_close(btt_storage *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->mi->num_files; i++) {
        if (st->files[i].fd >= 0) close(st->files[i].fd);
        free(st->files[i].path);
        pthread_mutex_destroy(&st->files[i].wlock);
    }
    pthread_mutex_destroy(&st->lock);
    free(st->files);
    free(st);
}

const char *btt_storage_file_path(const btt_storage *st, size_t i) { return st->files[i].path; }

/* Closes the least recently used idle fd when the cache is full. Called locked. */
static void evict(btt_storage *st)
{
    if (st->num_open < MAX_OPEN_FILES) return;
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < st->mi->num_files; i++) {
        sfile *f = &st->files[i];
        if (f->fd >= 0 && f->refs == 0 && (victim == SIZE_MAX || f->lru < st->files[victim].lru)) victim = i;
    }
    if (victim == SIZE_MAX) return; /* all busy: go over the cap briefly */
    close(st->files[victim].fd);
    st->files[victim].fd = -1;
    st->num_open--;
}

/* Returns a usable fd for file i with a reference held. In write mode files are opened
 * read-write; a write creates a missing file and sizes it (sparse) to its full length. */
static btt_err acquire(btt_storage *st, size_t i, bool write, int *fd, btt_error *err)
{
    sfile *f = &st->files[i];
    btt_err e = BTT_OK;
    pthread_mutex_lock(&st->lock);
    if (f->fd < 0) {
        evict(st);
        int flags = (st->mode & BTT_STORAGE_WRITE) ? O_RDWR : O_RDONLY;
        if (write) {
            if ((e = btt_path_mkparents(f->path, err))) goto out;
            flags |= O_CREAT;
        }
        /* O_NONBLOCK: a FIFO in the data's place must not hang us; only regular files count */
        int nfd = open(f->path, flags | O_CLOEXEC | O_NONBLOCK, 0644);
        if (nfd < 0) {
            e = btt_error_errno(err, errno, f->path);
            goto out;
        }
        struct stat sb;
        if (fstat(nfd, &sb) != 0 || !S_ISREG(sb.st_mode) || fcntl(nfd, F_SETFL, 0) != 0) {
            e = btt_error_set(err, BTT_EIO, "%s: not a regular file", f->path);
            close(nfd);
            goto out;
        }
        f->fd = nfd;
        st->num_open++;
    }
    if (write && !f->created) {
        struct stat sb;
        if (fstat(f->fd, &sb) != 0 ||
            ((uint64_t)sb.st_size < st->mi->files[i].length && ftruncate(f->fd, (off_t)st->mi->files[i].length) != 0)) {
            e = btt_error_errno(err, errno, f->path);
            goto out;
        }
        f->created = true;
    }
    f->refs++;
    f->lru = ++st->tick;
    *fd = f->fd;
out:
    pthread_mutex_unlock(&st->lock);
    return e;
}

static void release(btt_storage *st, size_t i)
{
    pthread_mutex_lock(&st->lock);
    st->files[i].refs--;
    pthread_mutex_unlock(&st->lock);
}

typedef enum { OP_READ, OP_WRITE } op_kind;

static btt_err file_io(btt_storage *st, size_t i, op_kind op, uint64_t off, uint8_t *buf, size_t len,
                       btt_error *err)
{
    const btt_file *mf = &st->mi->files[i];
    if (mf->attr & BTT_FILE_PAD) {
        if (op == OP_READ) memset(buf, 0, len);
        return BTT_OK;
    }
    int fd = -1;
    btt_err e = acquire(st, i, op == OP_WRITE, &fd, err);
    if (e) return e;
    size_t done = 0;
    if (op == OP_WRITE) pthread_mutex_lock(&st->files[i].wlock);
    while (done < len) {
        ssize_t r = op == OP_READ ? pread(fd, buf + done, len - done, (off_t)(off + done))
                                  : pwrite(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            e = btt_error_errno(err, errno, st->files[i].path);
            break;
        }
        if (r == 0) { /* a read past the end: the file is shorter than the torrent says */
            e = btt_error_set(err, BTT_ENOENT, "%s: file is shorter than %llu bytes", st->files[i].path,
                              (unsigned long long)mf->length);
            break;
        }
        done += (size_t)r;
    }
    if (op == OP_WRITE) pthread_mutex_unlock(&st->files[i].wlock);
    release(st, i);
    return e;
}

static btt_err stream_io(btt_storage *st, op_kind op, uint64_t offset, uint8_t *buf, size_t len, btt_error *err)
{
    const btt_metainfo *mi = st->mi;
    if (offset > mi->total_size || len > mi->total_size - offset)
        return btt_error_set(err, BTT_ERANGE, "range %llu+%zu is outside the torrent's %llu bytes",
                             (unsigned long long)offset, len, (unsigned long long)mi->total_size);
    if (op == OP_WRITE && !(st->mode & BTT_STORAGE_WRITE))
        return btt_error_set(err, BTT_EINVAL, "storage is read-only");
    /* first file whose range reaches past offset */
    size_t lo = 0, hi = mi->num_files;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (mi->files[mid].offset <= offset) lo = mid;
        else hi = mid;
    }
    while (len > 0 && lo < mi->num_files) {
        const btt_file *f = &mi->files[lo];
        if (offset >= f->offset + f->length) {
            lo++;
            continue;
        }
        uint64_t in_file = offset - f->offset;
        size_t n = (size_t)(f->length - in_file < len ? f->length - in_file : len);
        btt_err e = file_io(st, lo, op, in_file, buf, n, err);
        if (e) return e;
        buf += n;
        len -= n;
        offset += n;
        lo++;
    }
    return BTT_OK;
}

btt_err btt_storage_read(btt_storage *st, uint64_t offset, void *buf, size_t len, btt_error *err)
{
    return stream_io(st, OP_READ, offset, buf, len, err);
}

btt_err btt_storage_write(btt_storage *st, uint64_t offset, const void *buf, size_t len, btt_error *err)
{
    return stream_io(st, OP_WRITE, offset, (uint8_t *)buf, len, err);
}

btt_err btt_storage_create_file(btt_storage *st, size_t i, btt_error *err)
{
    if (i >= st->mi->num_files || (st->mi->files[i].attr & BTT_FILE_PAD)) return BTT_OK;
    if (!(st->mode & BTT_STORAGE_WRITE)) return btt_error_set(err, BTT_EINVAL, "storage is read-only");
    int fd;
    btt_err e = acquire(st, i, true, &fd, err);
    if (!e) release(st, i);
    return e;
}

btt_err btt_storage_sync(btt_storage *st, btt_error *err)
{
    btt_err e = BTT_OK;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->mi->num_files && !e; i++)
        if (st->files[i].fd >= 0 && st->files[i].created && fdatasync(st->files[i].fd) != 0)
            e = btt_error_errno(err, errno, st->files[i].path);
    pthread_mutex_unlock(&st->lock);
    return e;
}

bool btt_storage_file_stat(btt_storage *st, size_t i, uint64_t *size, int64_t *mtime_ns)
{
    struct stat sb;
    if (stat(st->files[i].path, &sb) != 0) return false;
    *size = (uint64_t)sb.st_size;
    *mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    return true;
}
