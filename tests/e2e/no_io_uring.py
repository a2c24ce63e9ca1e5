"""Runs a command where io_uring is refused, as a container's seccomp profile
does: installs a seccomp filter that fails io_uring_setup(2) with EPERM, then
execs its arguments. Linux only; used by test_event_loop.py."""
import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
NR_IO_URING_SETUP = 425  # the same number on every architecture


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def main():
    prog = b"".join([
        insn(0x20, 0, 0, 0),                          # A = seccomp_data.nr
        insn(0x15, 0, 1, NR_IO_URING_SETUP),          # if A == io_uring_setup
        insn(0x06, 0, 0, SECCOMP_RET_ERRNO | EPERM),  #   fail with EPERM
        insn(0x06, 0, 0, SECCOMP_RET_ALLOW),          # else allow
    ])
    buf = ctypes.create_string_buffer(prog, len(prog))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("prctl(NO_NEW_PRIVS): %s" % os.strerror(ctypes.get_errno()))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        sys.exit("prctl(SECCOMP): %s" % os.strerror(ctypes.get_errno()))
    os.execv(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
