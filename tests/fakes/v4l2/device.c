/*
 * A stand-in USB webcam for OpenCV's own V4L2 backend (LD_PRELOAD), the one piece of
 * hardware the test machine lacks. tests/webcam.py compiles it with the system cc. This
 * file: the device's state, opening and closing, frames; ioctl.c: the ioctls and buffer
 * memory; waiting.c: poll/select and the node in /dev.
 *
 * It answers the system calls that opencv modules/videoio/src/cap_v4l.cpp makes, the way
 * the kernel's uvcvideo driver and videobuf2 answer them (Documentation/userspace-api/
 * media/v4l, drivers/media/usb/uvc/uvc_v4l2.c, videobuf2-core.c, v4l2-dev.c):
 *
 * - /dev/videoN exists only while plugged in: open/stat/access/readdir of /dev see it.
 *   Unplugged (the file "unplugged" in FAKE_V4L2_DIR), the node is gone (ENOENT) and every
 *   open handle is dead for good: ioctls fail with ENODEV, poll/select report
 *   POLLERR|POLLHUP (v4l2_poll on an unregistered device), mmap fails. Replugging (the file
 *   removed) is a new device: old handles stay dead. With a number in the file "replug_at",
 *   it comes back as /dev/video<that number>, as the kernel numbers a camera replugged
 *   while the app still holds its old node open.
 * - QUERYCAP: uvcvideo's capabilities (capture + streaming, device_caps); ENUM_FMT,
 *   ENUM_FRAMESIZES (discrete), ENUM_FRAMEINTERVALS from FAKE_V4L2_MODES and FAKE_V4L2_FPS.
 * - S_FMT/TRY_FMT: an unknown pixel format becomes the default (first) one and the size
 *   the nearest offered (uvc_v4l2_try_format's distance); S_FMT once buffers are allocated
 *   is EBUSY, and so are S_FMT and REQBUFS while another handle, in this process or
 *   another (an flock on owner.lock in FAKE_V4L2_DIR), streams. S_PARM picks the nearest offered interval, G_PARM reads it back.
 * - REQBUFS (MMAP only; count 0 frees; EBUSY while streaming or for another handle),
 *   QUERYBUF, mmap of a buffer's offset, QBUF (EINVAL if already queued), DQBUF (EINVAL
 *   when not streaming, EAGAIN on a non-blocking handle with nothing done), STREAMON
 *   (EINVAL without buffers), STREAMOFF (every buffer back to the application).
 * - Frames arrive at the configured interval from STREAMON, each filling the oldest queued
 *   buffer; with no buffer queued the frame is dropped (sequence still counts). The file
 *   "stalled" in FAKE_V4L2_DIR stops frames without an error (a USB hiccup).
 * - read() is EINVAL (uvcvideo has no read I/O); unknown ioctls are ENOTTY, unknown
 *   controls EINVAL.
 *
 * Frames come from files the test writes in FAKE_V4L2_DIR: YUYV_<W>x<H>.raw (frames of
 * W*H*2 bytes back to back) and MJPG_<W>x<H>.bin (each JPEG preceded by its length, a
 * little-endian uint32). Each STREAMON appends "FOURCC WxH num/den buffers" to
 * streams.log there. FAKE_V4L2_MODES is "MJPG:640x480,320x240;YUYV:640x480" (the first
 * format and size are the default), FAKE_V4L2_FPS "30" or "30,15", FAKE_V4L2_DEVICE the N,
 * FAKE_V4L2_DRIVER what QUERYCAP names as the driver (default uvcvideo).
 */
#define _GNU_SOURCE
#include "fake_v4l2.h"

struct handle *handles[MAX_FDS];
struct mapping maps[MAX_MAPS];
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct device *current;  /* the plugged-in device */
int generation, unplugged;
struct mode_format formats[MAX_FORMATS];
int nformats, rates[MAX_RATES], nrates;
char dir[1024], node[64];
int number = -1;

int (*real_openat)(int, const char *, int, ...);
int (*real_close)(int);
int (*real_ioctl)(int, unsigned long, ...);
void *(*real_mmap)(void *, size_t, int, int, int, off_t);
int (*real_munmap)(void *, size_t);
int (*real_poll)(struct pollfd *, nfds_t, int);
int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
ssize_t (*real_read)(int, void *, size_t);
int (*real_stat)(const char *, struct stat *);
int (*real_lstat)(const char *, struct stat *);
int (*real_access)(const char *, int);
DIR *(*real_opendir)(const char *);
struct dirent *(*real_readdir)(DIR *);
struct dirent64 *(*real_readdir64)(DIR *);
int (*real_closedir)(DIR *);

DIR *dev_dirs[16];
int dev_dir_done[16];

static uint32_t fourcc_of(const char *text) {
    return v4l2_fourcc(text[0], text[1], text[2], text[3]);
}

static void parse_modes(void) {
    const char *modes = getenv("FAKE_V4L2_MODES");
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", modes && *modes ? modes : "YUYV:640x480");
    char *save = NULL;
    for (char *part = strtok_r(copy, ";", &save); part && nformats < MAX_FORMATS; part = strtok_r(NULL, ";", &save)) {
        struct mode_format *format = &formats[nformats++];
        format->fourcc = fourcc_of(part);
        char *sizes = strchr(part, ':');
        char *save2 = NULL;
        for (char *size = sizes ? strtok_r(sizes + 1, ",", &save2) : NULL; size && format->nsizes < MAX_SIZES;
             size = strtok_r(NULL, ",", &save2)) {
            sscanf(size, "%dx%d", &format->width[format->nsizes], &format->height[format->nsizes]);
            format->nsizes++;
        }
    }
    const char *fps = getenv("FAKE_V4L2_FPS");
    snprintf(copy, sizeof copy, "%s", fps && *fps ? fps : "30");
    for (char *rate = strtok_r(copy, ",", &save); rate && nrates < MAX_RATES; rate = strtok_r(NULL, ",", &save))
        rates[nrates++] = atoi(rate);
}

/* Other libraries' constructors may call in before ours runs: resolve on first use. */
void resolve(void) {
    static int done;
    if (done)
        return;
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_close = dlsym(RTLD_NEXT, "close");
    real_ioctl = dlsym(RTLD_NEXT, "ioctl");
    real_mmap = dlsym(RTLD_NEXT, "mmap");
    real_munmap = dlsym(RTLD_NEXT, "munmap");
    real_poll = dlsym(RTLD_NEXT, "poll");
    real_select = dlsym(RTLD_NEXT, "select");
    real_read = dlsym(RTLD_NEXT, "read");
    real_stat = dlsym(RTLD_NEXT, "stat");
    real_lstat = dlsym(RTLD_NEXT, "lstat");
    real_access = dlsym(RTLD_NEXT, "access");
    real_opendir = dlsym(RTLD_NEXT, "opendir");
    real_readdir = dlsym(RTLD_NEXT, "readdir");
    real_readdir64 = dlsym(RTLD_NEXT, "readdir64");
    real_closedir = dlsym(RTLD_NEXT, "closedir");
    done = 1;
}

__attribute__((constructor)) static void init(void) {
    resolve();
    const char *where = getenv("FAKE_V4L2_DIR");
    if (!where || !*where)
        return;
    snprintf(dir, sizeof dir, "%s", where);
    const char *n = getenv("FAKE_V4L2_DEVICE");
    number = n && *n ? atoi(n) : 0;
    snprintf(node, sizeof node, "/dev/video%d", number);
    parse_modes();
}

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int flag_file(const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return syscall(SYS_faccessat, AT_FDCWD, path, F_OK, 0) == 0;
}

void free_frames(struct device *dev) {
    if (dev->data)
        real_munmap(dev->data, dev->data_len);
    free(dev->offsets);
    free(dev->lengths);
    dev->data = NULL;
    dev->offsets = dev->lengths = NULL;
    dev->nframes = 0;
}

void free_buffers(struct device *dev) {
    if (dev->mem)
        real_munmap(dev->mem, dev->buflen * dev->nbufs);
    if (dev->memfd >= 0)
        real_close(dev->memfd);  /* the application's mappings keep the memory alive */
    dev->mem = NULL;
    dev->memfd = -1;
    dev->nbufs = 0;
    dev->owner = -1;
    dev->streaming = 0;
    if (dev->locked)
        flock(dev->lockfd, LOCK_UN);
    dev->locked = 0;
}

void unref_device(struct device *dev) {
    if (--dev->refs)
        return;
    free_buffers(dev);
    free_frames(dev);
    if (dev->lockfd >= 0)
        real_close(dev->lockfd);
    free(dev);
}

/* uvcvideo lets one file handle stream at a time, whichever process holds it: the
 * streaming handle holds an flock on owner.lock, which other processes' stand-ins see. */
int claim(struct device *dev) {
    if (dev->locked)
        return 0;
    if (dev->lockfd < 0) {
        char path[1200];
        snprintf(path, sizeof path, "%s/owner.lock", dir);
        dev->lockfd = real_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (dev->lockfd < 0 || flock(dev->lockfd, LOCK_EX | LOCK_NB) < 0)
        return -1;
    dev->locked = 1;
    return 0;
}

int held_elsewhere(struct device *dev) {
    if (dev->locked)
        return 0;
    if (claim(dev) < 0)
        return 1;
    flock(dev->lockfd, LOCK_UN);
    dev->locked = 0;
    return 0;
}

/* Called with the lock held: notice an unplug or a replug. */
void check_plug(void) {
    int gone = flag_file("unplugged");
    if (gone && !unplugged) {
        unplugged = 1;
        generation++;
        if (current)
            unref_device(current);
        current = NULL;
    } else if (!gone && unplugged) {
        unplugged = 0;
        char path[1200], text[16] = {0};
        snprintf(path, sizeof path, "%s/replug_at", dir);
        int fd = real_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (syscall(SYS_read, fd, text, sizeof text - 1) > 0) {
                number = atoi(text);
                snprintf(node, sizeof node, "/dev/video%d", number);
            }
            syscall(SYS_close, fd);
        }
    }
}

static struct device *new_device(void) {
    struct device *dev = calloc(1, sizeof *dev);
    dev->refs = 1;  /* the plug's own reference */
    dev->owner = -1;
    dev->memfd = -1;
    dev->lockfd = -1;
    dev->fourcc = formats[0].fourcc;
    dev->width = formats[0].width[0];
    dev->height = formats[0].height[0];
    dev->num = 1;
    dev->den = nrates ? rates[0] : 30;
    return dev;
}

int is_node(const char *path) {
    return number >= 0 && path && strcmp(path, node) == 0;
}

int present(void) {
    pthread_mutex_lock(&lock);
    check_plug();
    int here = !unplugged;
    pthread_mutex_unlock(&lock);
    return here;
}

/* ---- opening and closing ---------------------------------------------------------- */

static int open_node(int flags) {
    pthread_mutex_lock(&lock);
    check_plug();
    if (unplugged) {
        pthread_mutex_unlock(&lock);
        errno = ENOENT;
        return -1;
    }
    int fd = real_openat(AT_FDCWD, "/dev/null", O_RDWR | (flags & O_CLOEXEC));
    if (fd < 0 || fd >= MAX_FDS) {
        pthread_mutex_unlock(&lock);
        return fd;
    }
    if (!current)
        current = new_device();
    struct handle *h = calloc(1, sizeof *h);
    h->dev = current;
    h->generation = generation;
    h->nonblock = (flags & O_NONBLOCK) != 0;
    current->refs++;
    handles[fd] = h;
    pthread_mutex_unlock(&lock);
    return fd;
}

/* open(2) takes a mode only when it may create a file. */
#define MODE_ARG(flags, mode)                                                                                      \
    do {                                                                                                           \
        if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) {                                            \
            va_list args;                                                                                          \
            va_start(args, flags);                                                                                 \
            mode = va_arg(args, mode_t);                                                                           \
            va_end(args);                                                                                          \
        }                                                                                                          \
    } while (0)

int openat(int dirfd, const char *path, int flags, ...) {
    resolve();
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    if (is_node(path))
        return open_node(flags);
    return real_openat(dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return openat(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int __open_2(const char *path, int flags) { return open(path, flags); }
int __open64_2(const char *path, int flags) { return open(path, flags); }

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

struct handle *handle_of(int fd) {
    return (fd >= 0 && fd < MAX_FDS) ? handles[fd] : NULL;
}

int close(int fd) {
    resolve();
    struct handle *h = handle_of(fd);
    if (h) {
        pthread_mutex_lock(&lock);
        handles[fd] = NULL;
        struct device *dev = h->dev;
        if (dev->owner == fd)  /* vb2_queue_release: stop streaming, free buffers */
            free_buffers(dev);
        unref_device(dev);
        free(h);
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

int alive(struct handle *h) {
    check_plug();
    return !unplugged && h->generation == generation;
}

/* ---- frames ------------------------------------------------------------------------ */

int load_frames(struct device *dev) {
    char path[1200];
    char code[5] = {0};
    memcpy(code, &dev->fourcc, 4);
    int mjpg = dev->fourcc == V4L2_PIX_FMT_MJPEG;
    snprintf(path, sizeof path, "%s/%s_%dx%d.%s", dir, code, dev->width, dev->height, mjpg ? "bin" : "raw");
    int fd = real_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    fstat(fd, &st);
    dev->data_len = st.st_size;
    dev->data = real_mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    real_close(fd);
    if (dev->data == MAP_FAILED) {
        dev->data = NULL;
        return -1;
    }
    size_t count = 0, capacity = 64;
    dev->offsets = malloc(capacity * sizeof(size_t));
    dev->lengths = malloc(capacity * sizeof(size_t));
    size_t frame = (size_t)dev->width * dev->height * 2;
    for (size_t at = 0; at < dev->data_len;) {
        size_t length = frame;
        if (mjpg) {
            uint32_t n;
            memcpy(&n, dev->data + at, 4);
            at += 4;
            length = n;
        }
        if (at + length > dev->data_len)
            break;
        if (count == capacity) {
            capacity *= 2;
            dev->offsets = realloc(dev->offsets, capacity * sizeof(size_t));
            dev->lengths = realloc(dev->lengths, capacity * sizeof(size_t));
        }
        dev->offsets[count] = at;
        dev->lengths[count++] = length;
        at += length;
    }
    dev->nframes = count;
    return count ? 0 : -1;
}

int oldest(struct device *dev, int state) {
    int best = -1;
    for (int i = 0; i < dev->nbufs; i++)
        if (dev->state[i] == state && (best < 0 || dev->order[i] < dev->order[best]))
            best = i;
    return best;
}

/* Frames due by now fill the oldest queued buffers; with none queued they are dropped. */
void advance(struct device *dev) {
    if (!dev->streaming)
        return;
    double t = now();
    double interval = (double)dev->num / dev->den;
    if (t - dev->next_frame > 2.0) {  /* long asleep: only the last frames matter */
        uint32_t skipped = (uint32_t)((t - dev->next_frame) / interval) - MAX_BUFFERS;
        dev->frame_seq += skipped;
        dev->next_frame += skipped * interval;
    }
    int stalled = flag_file("stalled");
    while (dev->next_frame <= t) {
        int i = stalled ? -1 : oldest(dev, 1);
        if (i >= 0 && dev->nframes) {
            int k = dev->frame_seq % dev->nframes;
            size_t length = dev->lengths[k];
            memcpy(dev->mem + (size_t)i * dev->buflen, dev->data + dev->offsets[k], length);
            dev->bytesused[i] = length;
            dev->sequence[i] = dev->frame_seq;
            dev->stamp[i].tv_sec = (time_t)dev->next_frame;
            dev->stamp[i].tv_usec = (suseconds_t)((dev->next_frame - (time_t)dev->next_frame) * 1e6);
            dev->state[i] = 2;
            dev->order[i] = ++dev->counter;
        }
        dev->frame_seq++;
        dev->next_frame += interval;
    }
}

