/* notify.h — systemd's service notification protocol (sd_notify(3)) without
 * libsystemd: state lines in one datagram to the socket in $NOTIFY_SOCKET. */
#ifndef FC_NOTIFY_H
#define FC_NOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", several "KEY=VALUE" lines separated
 * by '\n') as one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET: a
 * path ("/run/systemd/notify") or an abstract name ("@name"). Returns 0 when
 * sent, 0 (doing nothing) when NOTIFY_SOCKET is unset or empty, or -errno
 * when it cannot be sent (the error log says why, naming the socket; a bad
 * NOTIFY_SOCKET never stops fulcrum). Borrows state. Any thread. */
int fc_notify(const char *state);

/* Tells systemd a configuration reload begins: "RELOADING=1" with
 * "MONOTONIC_USEC=" the CLOCK_MONOTONIC time in microseconds, as the
 * Type=notify-reload protocol asks. The reload ends, whether the new
 * configuration was taken or refused, with fc_notify("READY=1") again.
 * Returns as fc_notify. Any thread. */
int fc_notify_reloading(void);

#endif
