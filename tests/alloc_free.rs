//! Zero heap allocations on the fixed-size success paths, counted by a
//! global allocator. A `harness = false` binary: the counter is
//! process-wide, so nothing else may run meanwhile.

mod util;

use std::time::Duration;

use iofd::{
    Error, EventFd, SigSet, Signal, SignalFd, SignalInfo, TcpListener, TcpStream, TimerFd,
    UdpSocket, UnixStream,
};

#[global_allocator]
static GLOBAL: util::Counting = util::Counting;

/// Runs `f` 1,000 times and returns how many allocations it made.
fn allocations(name: &str, mut f: impl FnMut()) -> usize {
    f(); // warm any lazy state
    let before = util::allocations();
    for _ in 0..1_000 {
        f();
    }
    let n = util::allocations() - before;
    println!("{name:<32} {n} allocations in 1000 calls");
    n
}

fn main() {
    let efd = EventFd::new(0).expect("eventfd");
    let timer = TimerFd::new().expect("timerfd");
    let mut mask = SigSet::empty();
    mask.add(Signal::new(47).expect("rt"));
    let sfd = SignalFd::new(&mask).expect("signalfd");
    // Signal 47 blocked in this (the only) thread, and sent to it, so that
    // read_into succeeds.
    mask.block_thread().expect("block");
    let pid = iofd::sys::process::getpid();
    let tid = iofd::sys::process::gettid();

    let mut total = 0;
    let mut v = 0u64;
    total += allocations("EventFd::signal + wait_into", || {
        efd.signal(1).expect("signal");
        efd.wait_into(&mut v).expect("wait_into");
    });
    total += allocations("TimerFd::arm", || {
        timer
            .arm(Duration::from_secs(60), Duration::from_millis(5))
            .expect("arm")
    });
    let deadline = timer.clock().now().expect("now") + Duration::from_secs(60);
    total += allocations("TimerFd::arm_at", || {
        timer
            .arm_at(deadline, Duration::from_millis(5))
            .expect("arm_at")
    });
    total += allocations("TimerFd::get_time", || {
        std::hint::black_box(timer.get_time().expect("get_time"));
    });
    total += allocations("TimerFd::disarm", || timer.disarm().expect("disarm"));
    timer
        .arm(Duration::from_nanos(1), Duration::from_nanos(1_000))
        .expect("arm");
    std::thread::sleep(Duration::from_millis(2));
    total += allocations("TimerFd::expirations_into", || {
        // A 1 µs periodic timer has expired again by the next call, or
        // shortly after; any error but WouldBlock is a failure.
        loop {
            match timer.expirations_into(&mut v) {
                Ok(()) => break,
                Err(Error::WouldBlock) => {}
                Err(e) => panic!("expirations_into: {e}"),
            }
        }
        assert!(v >= 1);
    });
    let mut info = SignalInfo::zeroed();
    total += allocations("SignalFd::read_into", || {
        iofd::sys::process::tgkill(pid, tid, 47).expect("tgkill");
        sfd.read_into(&mut info).expect("read_into");
        assert_eq!(info.signo, 47);
    });
    total += allocations("SigSet operations", || {
        let mut s = SigSet::empty();
        s.add(Signal::USR1);
        s.add(Signal::TERM);
        s.remove(Signal::USR1);
        let n =
            s.iter().count() + usize::from(s.contains(Signal::TERM)) + usize::from(s.is_empty());
        std::hint::black_box((n, SigSet::full()));
    });
    total += sockets();
    assert_eq!(total, 0, "the fixed-size success paths allocated");
    println!("9 passed, 0 failed");
}

/// The socket handles' fixed-size paths: send, recv, options, addresses,
/// and a whole connect-accept-close cycle.
fn sockets() -> usize {
    let l = TcpListener::bind("127.0.0.1:0".parse().expect("addr")).expect("listen");
    let addr = l.local_addr().expect("addr");
    let c = TcpStream::connect(addr).expect("connect");
    let (s, _) = l.accept().expect("accept");
    let mut buf = [0u8; 8];
    let mut total = 0;
    total += allocations("TcpStream::write + read", || {
        c.write(b"ping").expect("write");
        // Loopback delivers at once.
        assert_eq!(s.read(&mut buf).expect("read"), 4);
    });
    total += allocations("TcpStream options", || {
        c.set_nodelay(true).expect("nodelay");
        assert!(c.nodelay().expect("nodelay"));
    });
    total += allocations("TcpStream addresses", || {
        std::hint::black_box((c.local_addr().expect("local"), c.peer_addr().expect("peer")));
    });
    total += allocations("TCP connect + accept + close", || {
        let c = TcpStream::connect(addr).expect("connect");
        let (s, _) = l.accept().expect("accept");
        drop((c, s));
    });
    let u = UdpSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("udp");
    let to = u.local_addr().expect("addr");
    total += allocations("UdpSocket::send_to + recv_from", || {
        u.send_to(b"d", to).expect("send_to");
        assert_eq!(u.recv_from(&mut buf).expect("recv_from").0, 1);
    });
    let (a, b) = UnixStream::pair().expect("pair");
    total += allocations("UnixStream::write + read", || {
        a.write(b"u").expect("write");
        assert_eq!(b.read(&mut buf).expect("read"), 1);
    });
    total
}
