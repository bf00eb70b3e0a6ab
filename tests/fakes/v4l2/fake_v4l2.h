/* Shared by the stand-in webcam's files: see device.c for what it is and how it behaves. */
#ifndef FAKE_V4L2_H
#define FAKE_V4L2_H
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Only the intercepted calls are exported: the helpers must not stand in for other libraries' symbols. */
#pragma GCC visibility push(hidden)

#define MAX_FDS 4096
#define MAX_BUFFERS 32
#define MAX_FORMATS 4
#define MAX_SIZES 8
#define MAX_RATES 4
#define MAX_MAPS 64

struct mode_format {
    uint32_t fourcc;
    int nsizes;
    int width[MAX_SIZES], height[MAX_SIZES];
};

struct device {  /* one plugged-in instance; a replug makes a new one */
    int refs;
    int owner;  /* the fd that allocated buffers, or -1 */
    uint32_t fourcc;
    int width, height;
    uint32_t num, den;
    int nbufs, streaming;
    size_t buflen;  /* page-aligned stride between buffers in the memfd */
    int memfd;
    int lockfd, locked;  /* owner.lock in FAKE_V4L2_DIR: which process streams (flock) */
    uint8_t *mem;
    int mapped;
    int state[MAX_BUFFERS];  /* 0 with the application, 1 queued, 2 done */
    uint64_t order[MAX_BUFFERS];  /* queue/done order */
    uint32_t bytesused[MAX_BUFFERS], sequence[MAX_BUFFERS];
    struct timeval stamp[MAX_BUFFERS];
    uint64_t counter;
    double next_frame;
    uint32_t frame_seq;
    /* the frames of the streaming mode */
    uint8_t *data;
    size_t data_len;
    int nframes;
    size_t *offsets, *lengths;
};

struct handle {
    struct device *dev;
    int generation;
    int nonblock;
};

struct mapping {
    void *addr;
    size_t len;
    struct device *dev;
};

extern struct handle *handles[MAX_FDS];
extern struct mapping maps[MAX_MAPS];
extern pthread_mutex_t lock;
extern struct device *current;;
extern int generation, unplugged;
extern struct mode_format formats[MAX_FORMATS];
extern int nformats, rates[MAX_RATES], nrates;
extern char dir[1024], node[64];
extern int number;
extern int (*real_openat)(int, const char *, int, ...);
extern int (*real_close)(int);
extern int (*real_ioctl)(int, unsigned long, ...);
extern void *(*real_mmap)(void *, size_t, int, int, int, off_t);
extern int (*real_munmap)(void *, size_t);
extern int (*real_poll)(struct pollfd *, nfds_t, int);
extern int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
extern ssize_t (*real_read)(int, void *, size_t);
extern int (*real_stat)(const char *, struct stat *);
extern int (*real_lstat)(const char *, struct stat *);
extern int (*real_access)(const char *, int);
extern DIR *(*real_opendir)(const char *);
extern struct dirent *(*real_readdir)(DIR *);
extern struct dirent64 *(*real_readdir64)(DIR *);
extern int (*real_closedir)(DIR *);
extern DIR *dev_dirs[16];
extern int dev_dir_done[16];

void resolve(void);
double now(void);
int flag_file(const char *name);
void free_frames(struct device *dev);
void free_buffers(struct device *dev);
void check_plug(void);
void unref_device(struct device *dev);
int claim(struct device *dev);
int held_elsewhere(struct device *dev);
int is_node(const char *path);
int present(void);
struct handle *handle_of(int fd);
int alive(struct handle *h);
int load_frames(struct device *dev);
int oldest(struct device *dev, int state);
void advance(struct device *dev);
int fail(int error);

#pragma GCC visibility pop

#endif
