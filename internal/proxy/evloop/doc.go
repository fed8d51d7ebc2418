// Package evloop is a reactor for TCP sockets: one Loop is a goroutine that
// owns an epoll instance and every socket registered in it, reads and
// writes them with raw system calls when epoll says they are ready, and
// parks in Go's own poller, on the epoll descriptor, when nothing is — or,
// with Options.OwnThread, waits in its own epoll_pwait on a P it keeps
// (own.go), parking in Go's poller only when it has no socket. It
// offers what a protocol running on it needs and nothing of any protocol:
// register a socket with a Handler, open one without blocking
// (Connect), post work to the loop (Post), take a
// socket out of Go's poller (Detach) and give it back (Socket.Release),
// message buffers lent only while a message is in flight (Bufs), and
// deadlines checked every Options.Tick.
//
// It must not import any lbd package: it knows nothing of HTTP, balancers,
// listeners or configuration. lbd's HTTP fast path (package proxy) is its
// client.
//
// # Ownership
//
// These invariants hold at every moment; the package's tests check them,
// and package proxy's check what its handlers build on them.
//
//  1. A socket has exactly one owner: a goroutine, holding it as a
//     net.Conn in Go's poller or as a bare descriptor on its way to a loop
//     (Detach), or one Loop, from Register until Close or Release. Detach
//     closes the net.Conn, Register fails rather than take a descriptor a
//     loop already has, and Release leaves nothing registered behind.
//  2. Only the owning loop's goroutine touches a registered socket, its
//     buffers and its handler's state. Other goroutines reach them only
//     through Post, which runs a function on that goroutine.
//  3. A registered socket holds a buffer only while a message is on its
//     way in (In) or out (Writer, until Flush has written it); buffers go
//     back to the loop's Bufs, or leave with the socket on Release, never
//     both.
//  4. What a handler holds on behalf of its socket (for lbd, an acquired
//     member or a listener's connection count) is settled exactly once:
//     when the socket closes, or by whoever receives it when it is
//     released. A stopping loop hands every socket still registered to its
//     handler's Abort, and closes whatever Abort left registered.
package evloop
