/*
 * A stand-in USB webcam for OpenCV's own V4L2 backend (LD_PRELOAD), the one piece of
 * hardware the test machine lacks. tests/webcam.py compiles it with the system cc.
 *
 * It answers the system calls that opencv modules/videoio/src/cap_v4l.cpp makes, the way
 * the kernel's uvcvideo driver and videobuf2 answer them (Documentation/userspace-api/
 * media/v4l, drivers/media/usb/uvc/uvc_v4l2.c, videobuf2-core.c, v4l2-dev.c):
 *
 * - /dev/videoN exists only while plugged in: open/stat/access/readdir of /dev see it.
 *   Unplugged (the file "unplugged" in FAKE_V4L2_DIR), the node is gone (ENOENT) and every
 *   open handle is dead for good: ioctls fail with ENODEV, poll/select report
 *   POLLERR|POLLHUP (v4l2_poll on an unregistered device), mmap fails. Replugging (the file
 *   removed) is a new device: old handles stay dead.
 * - QUERYCAP: uvcvideo's capabilities (capture + streaming, device_caps); ENUM_FMT,
 *   ENUM_FRAMESIZES (discrete), ENUM_FRAMEINTERVALS from FAKE_V4L2_MODES and FAKE_V4L2_FPS.
 * - S_FMT/TRY_FMT: an unknown pixel format becomes the default (first) one and the size
 *   the nearest offered (uvc_v4l2_try_format's distance); S_FMT once buffers are allocated
 *   is EBUSY. S_PARM picks the nearest offered interval, G_PARM reads it back.
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
 * format and size are the default), FAKE_V4L2_FPS "30" or "30,15", FAKE_V4L2_DEVICE the N.
 */
#define _GNU_SOURCE
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
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

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

static struct handle *handles[MAX_FDS];
static struct mapping maps[MAX_MAPS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct device *current;  /* the plugged-in device */
static int generation, unplugged;
static struct mode_format formats[MAX_FORMATS];
static int nformats, rates[MAX_RATES], nrates;
static char dir[1024], node[64];
static int number = -1;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_stat)(const char *, struct stat *);
static int (*real_lstat)(const char *, struct stat *);
static int (*real_access)(const char *, int);
static DIR *(*real_opendir)(const char *);
static struct dirent *(*real_readdir)(DIR *);
static struct dirent64 *(*real_readdir64)(DIR *);
static int (*real_closedir)(DIR *);

static DIR *dev_dirs[16];
static int dev_dir_done[16];

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
static void resolve(void) {
    static int done;
    if (done)
        return;
    real_open = dlsym(RTLD_NEXT, "open");
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

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int flag_file(const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return syscall(SYS_faccessat, AT_FDCWD, path, F_OK, 0) == 0;
}

static void free_frames(struct device *dev) {
    if (dev->data)
        real_munmap(dev->data, dev->data_len);
    free(dev->offsets);
    free(dev->lengths);
    dev->data = NULL;
    dev->offsets = dev->lengths = NULL;
    dev->nframes = 0;
}

static void free_buffers(struct device *dev) {
    if (dev->mem)
        real_munmap(dev->mem, dev->buflen * dev->nbufs);
    if (dev->memfd >= 0)
        real_close(dev->memfd);  /* the application's mappings keep the memory alive */
    dev->mem = NULL;
    dev->memfd = -1;
    dev->nbufs = 0;
    dev->owner = -1;
    dev->streaming = 0;
}

/* Called with the lock held: notice an unplug or a replug. */
static void check_plug(void) {
    int gone = flag_file("unplugged");
    if (gone && !unplugged) {
        unplugged = 1;
        generation++;
        if (current && --current->refs == 0) {
            free_buffers(current);
            free_frames(current);
            free(current);
        }
        current = NULL;
    } else if (!gone && unplugged) {
        unplugged = 0;
    }
}

static struct device *new_device(void) {
    struct device *dev = calloc(1, sizeof *dev);
    dev->refs = 1;  /* the plug's own reference */
    dev->owner = -1;
    dev->memfd = -1;
    dev->fourcc = formats[0].fourcc;
    dev->width = formats[0].width[0];
    dev->height = formats[0].height[0];
    dev->num = 1;
    dev->den = nrates ? rates[0] : 30;
    return dev;
}

static int is_node(const char *path) {
    return number >= 0 && path && strcmp(path, node) == 0;
}

static int present(void) {
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
    int fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
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

int open(const char *path, int flags, ...) {
    resolve();
    va_list args;
    va_start(args, flags);
    mode_t mode = (flags & O_CREAT || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(args, mode_t) : 0;
    va_end(args);
    if (is_node(path))
        return open_node(flags);
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int __open_2(const char *path, int flags) { return open(path, flags); }
int __open64_2(const char *path, int flags) { return open(path, flags); }

int openat(int dirfd, const char *path, int flags, ...) {
    resolve();
    va_list args;
    va_start(args, flags);
    mode_t mode = (flags & O_CREAT || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(args, mode_t) : 0;
    va_end(args);
    if (is_node(path))
        return open_node(flags);
    return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

static struct handle *handle_of(int fd) {
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
        if (--dev->refs == 0) {
            free_buffers(dev);
            free_frames(dev);
            free(dev);
        }
        free(h);
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

static int alive(struct handle *h) {
    check_plug();
    return !unplugged && h->generation == generation;
}

/* ---- frames ------------------------------------------------------------------------ */

static int load_frames(struct device *dev) {
    char path[1200];
    char code[5] = {0};
    memcpy(code, &dev->fourcc, 4);
    int mjpg = dev->fourcc == V4L2_PIX_FMT_MJPEG;
    snprintf(path, sizeof path, "%s/%s_%dx%d.%s", dir, code, dev->width, dev->height, mjpg ? "bin" : "raw");
    int fd = real_open(path, O_RDONLY | O_CLOEXEC);
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

static int oldest(struct device *dev, int state) {
    int best = -1;
    for (int i = 0; i < dev->nbufs; i++)
        if (dev->state[i] == state && (best < 0 || dev->order[i] < dev->order[best]))
            best = i;
    return best;
}

/* Frames due by now fill the oldest queued buffers; with none queued they are dropped. */
static void advance(struct device *dev) {
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

/* ---- ioctl ------------------------------------------------------------------------- */

static struct mode_format *find_format(uint32_t fourcc) {
    for (int i = 0; i < nformats; i++)
        if (formats[i].fourcc == fourcc)
            return &formats[i];
    return NULL;
}

static void fill_pix(struct v4l2_pix_format *pix, uint32_t fourcc, int width, int height) {
    memset(pix, 0, sizeof *pix);
    pix->width = width;
    pix->height = height;
    pix->pixelformat = fourcc;
    pix->field = V4L2_FIELD_NONE;
    pix->bytesperline = fourcc == V4L2_PIX_FMT_MJPEG ? 0 : width * 2;
    pix->sizeimage = width * height * 2;  /* uvc: dwMaxVideoFrameSize */
    pix->colorspace = V4L2_COLORSPACE_SRGB;
}

static void try_format(struct v4l2_pix_format *pix) {
    struct mode_format *format = find_format(pix->pixelformat);
    if (!format)
        format = &formats[0];  /* uvc: the default format */
    int best = 0;
    long best_d = -1;
    for (int i = 0; i < format->nsizes; i++) {  /* uvc_v4l2_try_format's distance */
        long w = format->width[i], h = format->height[i];
        long rw = pix->width, rh = pix->height;
        long overlap = (w < rw ? w : rw) * (h < rh ? h : rh);
        long d = w * h + rw * rh - 2 * overlap;
        if (best_d < 0 || d < best_d) {
            best_d = d;
            best = i;
        }
    }
    fill_pix(pix, format->fourcc, format->width[best], format->height[best]);
}

static int fail(int error) {
    errno = error;
    return -1;
}

static int ioctl_locked(int fd, struct handle *h, unsigned long request, void *arg) {
    struct device *dev = h->dev;
    if (!alive(h))
        return fail(ENODEV);
    advance(dev);
    switch (request) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *cap = arg;
        memset(cap, 0, sizeof *cap);
        snprintf((char *)cap->driver, sizeof cap->driver, "uvcvideo");
        snprintf((char *)cap->card, sizeof cap->card, "Fake Webcam C270");
        snprintf((char *)cap->bus_info, sizeof cap->bus_info, "usb-0000:01:00.0-1.2");
        cap->version = 0x060600;
        cap->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT;
        cap->capabilities = cap->device_caps | V4L2_CAP_META_CAPTURE | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *desc = arg;
        if (desc->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || desc->index >= (uint32_t)nformats)
            return fail(EINVAL);
        uint32_t index = desc->index, type = desc->type;
        memset(desc, 0, sizeof *desc);
        desc->index = index;
        desc->type = type;
        desc->pixelformat = formats[index].fourcc;
        int mjpg = desc->pixelformat == V4L2_PIX_FMT_MJPEG;
        desc->flags = mjpg ? V4L2_FMT_FLAG_COMPRESSED : 0;
        snprintf((char *)desc->description, sizeof desc->description, mjpg ? "Motion-JPEG" : "YUYV 4:2:2");
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
        struct v4l2_frmsizeenum *size = arg;
        struct mode_format *format = find_format(size->pixel_format);
        if (!format || size->index >= (uint32_t)format->nsizes)
            return fail(EINVAL);
        size->type = V4L2_FRMSIZE_TYPE_DISCRETE;
        size->discrete.width = format->width[size->index];
        size->discrete.height = format->height[size->index];
        return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
        struct v4l2_frmivalenum *ival = arg;
        struct mode_format *format = find_format(ival->pixel_format);
        int found = 0;
        for (int i = 0; format && i < format->nsizes; i++)
            found |= format->width[i] == (int)ival->width && format->height[i] == (int)ival->height;
        if (!found || ival->index >= (uint32_t)nrates)
            return fail(EINVAL);
        ival->type = V4L2_FRMIVAL_TYPE_DISCRETE;
        ival->discrete.numerator = 1;
        ival->discrete.denominator = rates[ival->index];
        return 0;
    }
    case VIDIOC_G_FMT: {
        struct v4l2_format *format = arg;
        if (format->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
            return fail(EINVAL);
        fill_pix(&format->fmt.pix, dev->fourcc, dev->width, dev->height);
        return 0;
    }
    case VIDIOC_TRY_FMT:
    case VIDIOC_S_FMT: {
        struct v4l2_format *format = arg;
        if (format->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
            return fail(EINVAL);
        if (request == VIDIOC_S_FMT && ((dev->owner >= 0 && dev->owner != fd) || dev->nbufs))
            return fail(EBUSY);
        try_format(&format->fmt.pix);
        if (request == VIDIOC_S_FMT) {
            dev->fourcc = format->fmt.pix.pixelformat;
            dev->width = format->fmt.pix.width;
            dev->height = format->fmt.pix.height;
        }
        return 0;
    }
    case VIDIOC_G_PARM:
    case VIDIOC_S_PARM: {
        struct v4l2_streamparm *parm = arg;
        if (parm->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
            return fail(EINVAL);
        if (request == VIDIOC_S_PARM) {
            if (dev->streaming)
                return fail(EBUSY);
            struct v4l2_fract want = parm->parm.capture.timeperframe;
            double wanted = want.numerator && want.denominator ? (double)want.denominator / want.numerator : 0;
            int best = 0;
            for (int i = 1; i < nrates; i++)  /* nearest interval */
                if (wanted && abs(rates[i] - (int)wanted) < abs(rates[best] - (int)wanted))
                    best = i;
            dev->num = 1;
            dev->den = rates[best];
        }
        memset(&parm->parm, 0, sizeof parm->parm);
        parm->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
        parm->parm.capture.timeperframe.numerator = dev->num;
        parm->parm.capture.timeperframe.denominator = dev->den;
        return 0;
    }
    case VIDIOC_G_INPUT:
        *(int *)arg = 0;
        return 0;
    case VIDIOC_S_INPUT:
        return *(int *)arg == 0 ? 0 : fail(EINVAL);
    case VIDIOC_ENUMINPUT: {
        struct v4l2_input *input = arg;
        if (input->index != 0)
            return fail(EINVAL);
        memset(input, 0, sizeof *input);
        snprintf((char *)input->name, sizeof input->name, "Camera 1");
        input->type = V4L2_INPUT_TYPE_CAMERA;
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *req = arg;
        if (req->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || req->memory != V4L2_MEMORY_MMAP)
            return fail(EINVAL);
        if (dev->owner >= 0 && dev->owner != fd)
            return fail(EBUSY);
        if (dev->streaming)
            return fail(EBUSY);
        free_buffers(dev);  /* earlier buffers are orphaned; mappings stay valid */
        if (req->count == 0)
            return 0;
        uint32_t count = req->count > MAX_BUFFERS ? MAX_BUFFERS : req->count;
        size_t page = sysconf(_SC_PAGESIZE);
        size_t size = (size_t)dev->width * dev->height * 2;
        dev->buflen = (size + page - 1) / page * page;
        dev->memfd = memfd_create("fake-v4l2", MFD_CLOEXEC);
        if (dev->memfd < 0 || ftruncate(dev->memfd, dev->buflen * count) < 0)
            return fail(ENOMEM);
        dev->mem = real_mmap(NULL, dev->buflen * count, PROT_READ | PROT_WRITE, MAP_SHARED, dev->memfd, 0);
        dev->nbufs = count;
        dev->owner = fd;
        memset(dev->state, 0, sizeof dev->state);
        req->count = count;
        req->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
        return 0;
    }
    case VIDIOC_QUERYBUF:
    case VIDIOC_QBUF:
    case VIDIOC_DQBUF: {
        struct v4l2_buffer *buf = arg;
        if (buf->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || buf->memory != V4L2_MEMORY_MMAP)
            return fail(EINVAL);
        if (dev->owner != fd)
            return fail(dev->owner >= 0 ? EBUSY : EINVAL);
        int i = buf->index;
        if (request == VIDIOC_DQBUF) {
            if (!dev->streaming)
                return fail(EINVAL);
            i = oldest(dev, 2);
            if (i < 0)
                return fail(EAGAIN);
            dev->state[i] = 0;
        } else if (i < 0 || i >= dev->nbufs) {
            return fail(EINVAL);
        } else if (request == VIDIOC_QBUF) {
            if (dev->state[i] != 0)
                return fail(EINVAL);
            dev->state[i] = 1;
            dev->order[i] = ++dev->counter;
        }
        memset(buf, 0, sizeof *buf);
        buf->index = i;
        buf->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        buf->memory = V4L2_MEMORY_MMAP;
        buf->m.offset = i * dev->buflen;
        buf->length = dev->width * dev->height * 2;
        buf->field = V4L2_FIELD_NONE;
        buf->flags = V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
        buf->flags |= dev->state[i] == 1 ? V4L2_BUF_FLAG_QUEUED : dev->state[i] == 2 ? V4L2_BUF_FLAG_DONE : 0;
        if (request == VIDIOC_DQBUF) {
            buf->bytesused = dev->bytesused[i];
            buf->sequence = dev->sequence[i];
            buf->timestamp = dev->stamp[i];
        }
        return 0;
    }
    case VIDIOC_STREAMON:
    case VIDIOC_STREAMOFF: {
        if (*(int *)arg != V4L2_BUF_TYPE_VIDEO_CAPTURE)
            return fail(EINVAL);
        if (dev->owner != fd)
            return fail(dev->owner >= 0 ? EBUSY : EINVAL);
        if (request == VIDIOC_STREAMOFF) {
            dev->streaming = 0;
            memset(dev->state, 0, sizeof dev->state);
            free_frames(dev);
            return 0;
        }
        if (dev->streaming)
            return 0;
        if (!dev->nbufs)
            return fail(EINVAL);
        free_frames(dev);
        if (load_frames(dev) < 0)
            return fail(EIO);
        dev->streaming = 1;
        dev->frame_seq = 0;
        dev->next_frame = now() + (double)dev->num / dev->den;
        char line[128], path[1200], code[5] = {0};
        memcpy(code, &dev->fourcc, 4);
        int n = snprintf(line, sizeof line, "%s %dx%d %u/%u %d\n", code, dev->width, dev->height, dev->num, dev->den,
                         dev->nbufs);
        snprintf(path, sizeof path, "%s/streams.log", dir);
        int log = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log >= 0) {
            if (write(log, line, n) < 0) {
            }
            real_close(log);
        }
        return 0;
    }
    case VIDIOC_QUERYCTRL:
    case VIDIOC_G_CTRL:
    case VIDIOC_S_CTRL:
    case VIDIOC_QUERY_EXT_CTRL:
        return fail(EINVAL);
    default:
        return fail(ENOTTY);
    }
}

int ioctl(int fd, unsigned long request, ...) {
    resolve();
    va_list args;
    va_start(args, request);
    void *arg = va_arg(args, void *);
    va_end(args);
    struct handle *h = handle_of(fd);
    if (!h)
        return real_ioctl(fd, request, arg);
    for (;;) {
        pthread_mutex_lock(&lock);
        int result = ioctl_locked(fd, h, request, arg);
        int error = errno;
        double next = h->dev->next_frame;
        pthread_mutex_unlock(&lock);
        if (!(result < 0 && error == EAGAIN && !h->nonblock)) {
            errno = error;
            return result;
        }
        double wait = next - now();  /* a blocking DQBUF sleeps until a frame is due */
        struct timespec ts = {0, (long)((wait > 0.001 ? wait : 0.001) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- memory ------------------------------------------------------------------------ */

static void *map_buffer(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
    struct handle *h = handle_of(fd);
    pthread_mutex_lock(&lock);
    struct device *dev = h->dev;
    void *result = MAP_FAILED;
    if (!alive(h))
        errno = ENODEV;
    else if (dev->owner != fd || (size_t)offset % dev->buflen || (size_t)offset / dev->buflen >= (size_t)dev->nbufs || len > dev->buflen)
        errno = EINVAL;
    else if ((result = real_mmap(addr, len, prot, flags, dev->memfd, offset)) != MAP_FAILED) {
        for (int i = 0; i < MAX_MAPS; i++)
            if (!maps[i].addr) {
                maps[i] = (struct mapping){result, len, dev};
                dev->mapped++;
                dev->refs++;
                break;
            }
    }
    pthread_mutex_unlock(&lock);
    return result;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
    resolve();
    if (handle_of(fd))
        return map_buffer(addr, len, prot, flags, fd, offset);
    return real_mmap(addr, len, prot, flags, fd, offset);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset) __attribute__((alias("mmap")));

int munmap(void *addr, size_t len) {
    resolve();
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].addr && maps[i].addr == addr) {
            struct device *dev = maps[i].dev;
            dev->mapped--;
            maps[i].addr = NULL;
            if (--dev->refs == 0) {
                free_buffers(dev);
                free_frames(dev);
                free(dev);
            }
            break;
        }
    pthread_mutex_unlock(&lock);
    return real_munmap(addr, len);
}

ssize_t read(int fd, void *buf, size_t count) {
    resolve();
    if (handle_of(fd))
        return fail(EINVAL);  /* uvcvideo offers streaming I/O only */
    return real_read(fd, buf, count);
}

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
