/*
 * plugin.c -- kernel libraries loaded from files (ncs_plugin_load).
 *
 * Loading checks the file before dlopen runs any of its code: the directory and the file must
 * not be group- or world-writable, and the file must be a regular file (not a symlink). The
 * checks use fstat on descriptors opened without following links (openat on the directory's
 * descriptor), so the objects checked are the objects opened; dlopen itself needs a path, so
 * after it the path must still name the checked file (device and inode), which refuses a swap
 * in between. With the directory writable only by its owner, only that owner (or root) could
 * race us at all. Registration then goes through the catalog (all-or-nothing); a library that
 * fails is dlclosed, one that succeeds stays loaded until the process exits (the catalog
 * borrows its kernel descriptors and calls its functions for that long).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ---- loading ---------------------------------------------------------------------------- */

/* The library name of a file name: without a leading "lib" and a trailing ".so". Returns 0
   when what remains is not 1..NCS_MAX_NAME characters of [A-Za-z0-9_-]. */
static int library_name(const char *file, char *name, size_t capacity)
{
    size_t n = strlen(file);
    const char *start = file;
    if (n > 3 && strncmp(file, "lib", 3) == 0) {
        start += 3;
        n -= 3;
    }
    if (n > 3 && strcmp(start + n - 3, ".so") == 0)
        n -= 3;
    if (n == 0 || n > NCS_MAX_NAME || n >= capacity)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = start[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    memcpy(name, start, n);
    name[n] = '\0';
    return 1;
}

/* Opens and checks the directory and the file; on success *dir_fd and *file_fd are open and
   *st describes the file. */
static int open_checked(const char *path, const char *dir, const char *file, int *dir_fd,
                        int *file_fd, struct stat *st, char *error, size_t error_size)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "plugin '%s': cannot open its directory '%s': %s", path, dir,
                               strerror(errno));
    struct stat dst;
    if (fstat(dfd, &dst) != 0) {
        int e = errno;
        close(dfd);
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "plugin '%s': cannot stat its directory: %s", path, strerror(e));
    }
    if (dst.st_mode & (S_IWGRP | S_IWOTH)) {
        close(dfd);
        return ncs_status_fail(
            NCS_E_INVALID_ARGUMENT, error, error_size,
            "plugin '%s' refused: its directory '%s' is group- or world-writable (mode %04o), "
            "so others could replace the library; run chmod go-w on the directory",
            path, dir, (unsigned)(dst.st_mode & 07777));
    }
    /* O_NONBLOCK: opening a FIFO must not hang start-up; it is refused just below. */
    int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        close(dfd);
        if (e == ELOOP)
            return ncs_status_fail(
                NCS_E_INVALID_ARGUMENT, error, error_size,
                "plugin '%s' refused: it is a symbolic link; give the path of the library itself",
                path);
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "plugin '%s': cannot open it: %s", path, strerror(e));
    }
    const char *problem = NULL;
    if (fstat(fd, st) != 0)
        problem = "cannot stat it";
    else if (!S_ISREG(st->st_mode))
        problem = "it is not a regular file";
    else if (st->st_mode & (S_IWGRP | S_IWOTH))
        problem = "it is group- or world-writable, so others could change it; run chmod go-w on it";
    if (problem != NULL) {
        close(fd);
        close(dfd);
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                               "plugin '%s' refused: %s (mode %04o)", path, problem,
                               (unsigned)(st->st_mode & 07777));
    }
    *dir_fd = dfd;
    *file_fd = fd;
    return NCS_OK;
}

static int load(const char *path, char *error, size_t error_size)
{
    /* Split the path into directory and file name; a bare name is in the current directory
       (and must be loaded as "./name", or dlopen would search the library path). */
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    size_t dir_length = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(dir_length + 1);
    char *load_path = malloc(strlen(path) + 3);
    if (dir == NULL || load_path == NULL) {
        free(dir);
        free(load_path);
        return ncs_status_fail(NCS_E_OUT_OF_MEMORY, error, error_size,
                               "out of memory loading plugin '%s'", path);
    }
    if (slash == NULL)
        memcpy(dir, ".", 2);
    else if (dir_length == 0)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, dir_length);
        dir[dir_length] = '\0';
    }
    snprintf(load_path, strlen(path) + 3, "%s%s", slash ? "" : "./", path);

    int status = NCS_OK;
    char name[NCS_MAX_NAME + 1];
    int dfd = -1, fd = -1;
    struct stat st;
    void *handle = NULL;
    if (*file == '\0' || !library_name(file, name, sizeof name))
        status = ncs_status_fail(
            NCS_E_INVALID_ARGUMENT, error, error_size,
            "plugin '%s' refused: its file name must be lib<name>.so with <name> 1 to %d "
            "characters of [A-Za-z0-9_-]",
            path, NCS_MAX_NAME);
    if (status == NCS_OK)
        status = open_checked(path, dir, file, &dfd, &fd, &st, error, error_size);
    if (status == NCS_OK && ncs_catalog_library_exists(name))
        status = ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                                 "plugin '%s' refused: a library named '%s' is already registered",
                                 path, name);
    if (status == NCS_OK) {
        dlerror();
        handle = dlopen(load_path, RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL) {
            const char *why = dlerror();
            status = ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size,
                                     "plugin '%s': dlopen failed: %s", path,
                                     why ? why : "unknown error");
        }
    }
    if (status == NCS_OK) {
        struct stat now;
        if (stat(load_path, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)
            status = ncs_status_fail(
                NCS_E_INVALID_ARGUMENT, error, error_size,
                "plugin '%s' refused: the file changed while it was being loaded", path);
    }
    ncs_plugin_register_fn entry = NULL;
    if (status == NCS_OK) {
        void *symbol = dlsym(handle, NCS_PLUGIN_ENTRY);
        if (symbol == NULL)
            status = ncs_status_fail(
                NCS_E_INVALID_ARGUMENT, error, error_size,
                "plugin '%s' refused: it does not export the entry point %s (see ncs_plugin.h)",
                path, NCS_PLUGIN_ENTRY);
        else
            entry = (ncs_plugin_register_fn)symbol;
    }
    if (status == NCS_OK) {
        char why[512];
        status = ncs_catalog_register(name, entry, 1, why, sizeof why);
        if (status != NCS_OK)
            ncs_status_fail(status, error, error_size, "plugin '%s' refused: %s", path, why);
    }
    if (status != NCS_OK && handle != NULL)
        dlclose(handle);
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    free(dir);
    free(load_path);
    return status;
}

NCS_API int ncs_plugin_load(const char *path, char *error, size_t error_size)
{
    if (error != NULL && error_size > 0)
        error[0] = '\0';
    if (path == NULL || *path == '\0')
        return ncs_status_fail(NCS_E_INVALID_ARGUMENT, error, error_size, "%s",
                               "plugin path is empty");
    return load(path, error, error_size);
}
