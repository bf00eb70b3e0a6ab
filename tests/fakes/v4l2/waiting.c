/* poll/select on the stand-in, and its node in /dev (stat, access, readdir) (device.c). */
#define _GNU_SOURCE
#include "fake_v4l2.h"

/* ---- waiting ----------------------------------------------------------------------- */

/* poll events for a handle now, and when the next frame is due (0 if no wait helps). */
static short readiness(struct handle *h, double *next) {
    pthread_mutex_lock(&lock);
    short events;
    if (!alive(h)) {
        events = POLLERR | POLLHUP | POLLPRI;  /* v4l2_poll on an unregistered device */
    } else if (!h->dev->streaming || h->dev->owner < 0) {
        events = POLLERR;  /* vb2_poll: not streaming */
    } else {
        advance(h->dev);
        events = oldest(h->dev, 2) >= 0 ? (POLLIN | POLLRDNORM) : 0;
        if (!events && next && (!*next || h->dev->next_frame < *next))
            *next = h->dev->next_frame;
    }
    pthread_mutex_unlock(&lock);
    return events;
}

static void nap(double deadline, double next) {
    double t = now();
    double until = t + 0.005;
    if (next > t && next < until)
        until = next;
    if (deadline >= 0 && deadline < until)
        until = deadline;
    if (until > t) {
        struct timespec ts = {(time_t)(until - t), (long)(((until - t) - (time_t)(until - t)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
    resolve();
    int fake = 0;
    for (nfds_t i = 0; i < nfds; i++)
        fake |= handle_of(fds[i].fd) != NULL;
    if (!fake)
        return real_poll(fds, nfds, timeout);
    double deadline = timeout < 0 ? -1 : now() + timeout / 1000.0;
    for (;;) {
        int ready = 0;
        double next = 0;
        for (nfds_t i = 0; i < nfds; i++) {
            struct handle *h = handle_of(fds[i].fd);
            if (h) {
                short events = readiness(h, &next);
                fds[i].revents = events & (fds[i].events | POLLERR | POLLHUP);
            } else if (fds[i].fd >= 0) {
                real_poll(&fds[i], 1, 0);
            } else {
                fds[i].revents = 0;
            }
            ready += fds[i].revents != 0;
        }
        if (ready || (deadline >= 0 && now() >= deadline))
            return ready;
        nap(deadline, next);
    }
}

int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv) {
    resolve();
    int fake = 0;
    for (int fd = 0; fd < nfds && fd < MAX_FDS; fd++)
        if (handles[fd] && ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))))
            fake = 1;
    if (!fake)
        return real_select(nfds, rd, wr, ex, tv);
    fd_set want_rd, want_wr, want_ex;
    FD_ZERO(&want_rd);
    FD_ZERO(&want_wr);
    FD_ZERO(&want_ex);
    if (rd)
        want_rd = *rd;
    if (wr)
        want_wr = *wr;
    if (ex)
        want_ex = *ex;
    double deadline = tv ? now() + tv->tv_sec + tv->tv_usec / 1e6 : -1;
    for (;;) {
        int ready = 0;
        double next = 0;
        fd_set out_rd, out_wr, out_ex;
        FD_ZERO(&out_rd);
        FD_ZERO(&out_wr);
        FD_ZERO(&out_ex);
        for (int fd = 0; fd < nfds; fd++) {
            int r = FD_ISSET(fd, &want_rd), w = FD_ISSET(fd, &want_wr), e = FD_ISSET(fd, &want_ex);
            if (!(r || w || e))
                continue;
            short events;
            struct handle *h = handle_of(fd);
            if (h) {
                events = readiness(h, &next);
            } else {
                struct pollfd one = {fd, (short)((r ? POLLIN : 0) | (w ? POLLOUT : 0) | (e ? POLLPRI : 0)), 0};
                real_poll(&one, 1, 0);
                events = one.revents;
            }
            /* fs/select.c: POLLIN_SET and POLLOUT_SET include POLLERR/POLLHUP, POLLEX_SET is POLLPRI */
            if (r && (events & (POLLIN | POLLRDNORM | POLLHUP | POLLERR)))
                FD_SET(fd, &out_rd), ready++;
            if (w && (events & (POLLOUT | POLLERR)))
                FD_SET(fd, &out_wr), ready++;
            if (e && (events & POLLPRI))
                FD_SET(fd, &out_ex), ready++;
        }
        if (ready || (deadline >= 0 && now() >= deadline)) {
            if (rd)
                *rd = out_rd;
            if (wr)
                *wr = out_wr;
            if (ex)
                *ex = out_ex;
            return ready;
        }
        nap(deadline, next);
    }
}

/* ---- the node in /dev ---------------------------------------------------------------- */

static void fake_stat(struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFCHR | 0660;
    st->st_rdev = makedev(81, number);
    st->st_nlink = 1;
    st->st_blksize = 4096;
}

int stat(const char *path, struct stat *st) {
    resolve();
    if (is_node(path)) {
        if (!present())
            return fail(ENOENT);
        fake_stat(st);
        return 0;
    }
    return real_stat(path, st);
}

int stat64(const char *path, struct stat64 *st) __attribute__((alias("stat")));

int lstat(const char *path, struct stat *st) {
    resolve();
    if (is_node(path))
        return stat(path, st);
    return real_lstat(path, st);
}

int access(const char *path, int mode) {
    resolve();
    if (is_node(path))
        return present() ? 0 : fail(ENOENT);
    return real_access(path, mode);
}

DIR *opendir(const char *path) {
    resolve();
    DIR *d = real_opendir(path);
    if (d && number >= 0 && (strcmp(path, "/dev") == 0 || strcmp(path, "/dev/") == 0)) {
        pthread_mutex_lock(&lock);
        for (int i = 0; i < 16; i++)
            if (!dev_dirs[i]) {
                dev_dirs[i] = d;
                dev_dir_done[i] = 0;
                break;
            }
        pthread_mutex_unlock(&lock);
    }
    return d;
}

static struct dirent64 fake_entry;

/* After /dev's real entries, the fake node once (while plugged in). */
static struct dirent64 *extra_entry(DIR *d) {
    int slot = -1;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 16; i++)
        if (dev_dirs[i] == d && !dev_dir_done[i]) {
            dev_dir_done[i] = 1;
            slot = i;
        }
    int error = errno, here = 0;  /* readdir's callers tell the end from an error by errno */
    if (slot >= 0) {
        check_plug();
        here = !unplugged;
    }
    pthread_mutex_unlock(&lock);
    errno = error;
    if (!here)
        return NULL;
    memset(&fake_entry, 0, sizeof fake_entry);
    fake_entry.d_ino = 424242;
    fake_entry.d_type = DT_CHR;
    fake_entry.d_reclen = sizeof fake_entry;
    snprintf(fake_entry.d_name, sizeof fake_entry.d_name, "video%d", number);
    return &fake_entry;
}

struct dirent *readdir(DIR *d) {
    resolve();
    struct dirent *entry = real_readdir(d);
    return entry ? entry : (struct dirent *)extra_entry(d);
}

struct dirent64 *readdir64(DIR *d) {
    resolve();
    struct dirent64 *entry = real_readdir64(d);
    return entry ? entry : extra_entry(d);
}

int closedir(DIR *d) {
    resolve();
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 16; i++)
        if (dev_dirs[i] == d)
            dev_dirs[i] = NULL;
    pthread_mutex_unlock(&lock);
    return real_closedir(d);
}

