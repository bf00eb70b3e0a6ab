/* The V4L2 ioctls, buffer memory and read(), as uvcvideo and videobuf2 answer them (device.c). */
#define _GNU_SOURCE
#include "fake_v4l2.h"

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

int fail(int error) {
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
        const char *driver = getenv("FAKE_V4L2_DRIVER");  /* e.g. unicam: a Pi's CSI receiver */
        snprintf((char *)cap->driver, sizeof cap->driver, "%s", driver && *driver ? driver : "uvcvideo");
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
    case VIDIOC_G_FMT:
    case VIDIOC_TRY_FMT:
    case VIDIOC_S_FMT: {
        struct v4l2_format *format = arg;
        if (format->type != V4L2_BUF_TYPE_VIDEO_CAPTURE)
            return fail(EINVAL);
        if (request == VIDIOC_G_FMT) {
            fill_pix(&format->fmt.pix, dev->fourcc, dev->width, dev->height);
            return 0;
        }
        if (request == VIDIOC_S_FMT && ((dev->owner >= 0 && dev->owner != fd) || dev->nbufs || held_elsewhere(dev)))
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
        if (claim(dev) < 0)
            return fail(EBUSY);
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
        int log = real_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
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
            unref_device(dev);
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

