/* The hub's wake-up descriptor on Windows: a connected pair of loopback TCP
   sockets (Windows has no socketpair, and its event loops watch sockets
   only).  SOCKET values are handles, which Windows keeps within 32 bits, so
   they travel as int like the POSIX descriptors.  See gc_platform.h. */
#include "gc_platform.h"

#include <winsock2.h>
#include <ws2tcpip.h>

#include <errno.h>
#include <stdatomic.h>

static _Atomic int started;

static int winsock_start(void)
{
    if (atomic_load(&started))
        return 0;
    WSADATA data;
    if (WSAStartup(MAKEWORD(2, 2), &data) != 0)
        return -1;
    if (atomic_exchange(&started, 1)) /* another thread started it too */
        WSACleanup();
    return 0;
}

static void set_nonblocking(SOCKET s)
{
    u_long on = 1;
    ioctlsocket(s, FIONBIO, &on);
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
}

int gc_wake_open(int *read_fd, int *write_fd)
{
    if (winsock_start() < 0) {
        errno = EIO;
        return -1;
    }
    SOCKET listener = INVALID_SOCKET, a = INVALID_SOCKET, b = INVALID_SOCKET;
    struct sockaddr_in addr = {0};
    int len = sizeof addr;
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET ||
        bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) != 0 ||
        listen(listener, 1) != 0)
        goto fail;
    a = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (a == INVALID_SOCKET || connect(a, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto fail;
    b = accept(listener, NULL, NULL);
    if (b == INVALID_SOCKET)
        goto fail;
    closesocket(listener);
    int one = 1;
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    set_nonblocking(a);
    set_nonblocking(b);
    *read_fd = (int)b;
    *write_fd = (int)a;
    return 0;
fail:
    if (listener != INVALID_SOCKET)
        closesocket(listener);
    if (a != INVALID_SOCKET)
        closesocket(a);
    errno = EMFILE;
    return -1;
}

void gc_wake_signal(int write_fd)
{
    /* A send refused because the buffer is full loses nothing: the reader
       has bytes to read.  But a send is also refused while another
       thread's send on the socket has not returned yet (wine does so), and
       that send's byte may already be drained: then nothing is readable
       and the wake-up is lost.  The hub drains before each take, so at
       most a few bytes are ever unread and a refusal is this transient
       kind; it is retried once the socket takes data again, for at most a
       second (a full buffer, which the hub never makes). */
    char one = 1;
    ULONGLONG give_up = 0;
    while (send((SOCKET)write_fd, &one, 1, 0) != 1) {
        if (WSAGetLastError() != WSAEWOULDBLOCK)
            return;
        ULONGLONG now = GetTickCount64();
        if (give_up == 0)
            give_up = now + 1000;
        else if (now >= give_up)
            return;
        WSAPOLLFD p = {.fd = (SOCKET)write_fd, .events = POLLWRNORM};
        if (WSAPoll(&p, 1, 1) > 0)
            SwitchToThread(); /* writable already: let the other send return */
    }
}

void gc_wake_drain(int read_fd)
{
    char buf[64];
    while (recv((SOCKET)read_fd, buf, sizeof buf, 0) == (int)sizeof buf)
        ;
}

bool gc_wake_wait(int read_fd, int timeout_ms)
{
    if (read_fd < 0) {
        if (timeout_ms != 0)
            Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
        return false;
    }
    WSAPOLLFD p = {.fd = (SOCKET)read_fd, .events = POLLRDNORM};
    return WSAPoll(&p, 1, timeout_ms) > 0;
}

void gc_wake_close(int read_fd, int write_fd)
{
    if (read_fd >= 0)
        closesocket((SOCKET)read_fd);
    if (write_fd >= 0 && write_fd != read_fd)
        closesocket((SOCKET)write_fd);
}
