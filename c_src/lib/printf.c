/* A small printf for diagnostics, the tracer and synthetic files. */
#include "libsubst/rt.h"

struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

size_t kfmt_ulong(char *b, unsigned long v, int base)
{
    char tmp[KFMT_ULONG_MAX];
    size_t n = 0, len;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    for (len = n; n; )
        *b++ = tmp[--n];
    *b = 0;
    return len;
}

static void put_num(struct out *o, unsigned long v, int base, int neg, int width, char pad)
{
    char digits[KFMT_ULONG_MAX];
    int n = (int)kfmt_ulong(digits, v, base) + neg;
    for (int i = n; i < width; i++)
        put(o, pad);
    if (neg)
        put(o, '-');
    for (const char *d = digits; *d; d++)
        put(o, *d);
}

int kvsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
    struct out o = {buf, cap, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        fmt++;
        int left = 0, width = 0, prec = -1, lng = 0;
        char pad = ' ';
        if (*fmt == '-')
            left = 1, fmt++;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            prec = 0;
            while (*fmt >= '0' && *fmt <= '9')
                prec = prec * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l' || *fmt == 'z')
            lng = 1, fmt++;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = prec >= 0 ? (int)strnlen(s, prec) : (int)strlen(s);
            if (!left)
                for (int i = n; i < width; i++)
                    put(&o, ' ');
            for (int i = 0; i < n; i++)
                put(&o, s[i]);
            if (left)
                for (int i = n; i < width; i++)
                    put(&o, ' ');
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'd':
        case 'i': {
            long v = lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
            put_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0, width, pad);
            break;
        case 'x':
            put_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0, width, pad);
            break;
        case 'o':
            put_num(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 8, 0, width, pad);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (unsigned long)va_arg(ap, void *), 16, 0, width, pad);
            break;
        case '%':
            put(&o, '%');
            break;
        default:
            put(&o, '%');
            put(&o, *fmt);
            if (!*fmt)
                fmt--;
        }
    }
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = 0;
    return (int)o.len;
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = kvsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

long kwrite_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    size_t done = 0;
    while (done < n) {
        long r = hsys3(__NR_write, fd, (long)(p + done), n - done);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? r : -EIO;
        done += r;
    }
    return done;
}

int kdprintf(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int r = kvsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (r >= (int)sizeof buf)
        r = sizeof buf - 1;
    kwrite_all(fd, buf, r);
    return r;
}

void kdiag(int fd, const char *what, const char *fmt, va_list ap)
{
    char buf[512];
    int n = ksnprintf(buf, sizeof buf, "libsubst-kernel: %s", what);
    n += kvsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    kwrite_all(fd, buf, n);
}
