//! Stdin and stdout for the MCP stdio transport, read and written on the async runtime.
//!
//! `tokio::io::stdin()`/`stdout()` do every read and write on the blocking thread pool: two
//! thread hand-offs per message, a measurable share of a tool call's latency. MCP clients
//! connect servers through pipes or socket pairs, which can be polled like any socket, so
//! those are used directly; anything else (a terminal, a file) keeps tokio's portable path.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

mod transport;
pub use transport::StdioTransport;

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Stdin and stdout, polled by the runtime when they are pipes or sockets.
pub fn streams() -> (Reader, Writer) {
    let stdin = pollable(&io::stdin()).and_then(|fd| reader(fd).ok());
    let stdout = pollable(&io::stdout()).and_then(|fd| writer(fd).ok());
    (
        stdin.unwrap_or_else(|| Box::new(tokio::io::stdin())),
        stdout.unwrap_or_else(|| Box::new(tokio::io::stdout())),
    )
}

/// A duplicate of `stream`'s descriptor if it is a pipe or socket that stderr does not share.
///
/// Polling needs non-blocking mode, which is a property of the open file, shared by every
/// descriptor for it. Stderr is written synchronously by the logger, so a stream that is
/// also stderr (`2>&1` into one pipe) stays on tokio's blocking path.
fn pollable(stream: &impl AsFd) -> Option<OwnedFd> {
    let fd = stream.as_fd().try_clone_to_owned().ok()?;
    let meta = File::from(fd.try_clone().ok()?).metadata().ok()?;
    let kind = meta.file_type();
    if !(kind.is_fifo() || kind.is_socket()) {
        return None;
    }
    let stderr = File::from(io::stderr().as_fd().try_clone_to_owned().ok()?)
        .metadata()
        .ok()?;
    if (stderr.dev(), stderr.ino()) == (meta.dev(), meta.ino()) {
        return None;
    }
    Some(fd)
}

fn reader(fd: OwnedFd) -> io::Result<Reader> {
    let from_pipe = |f| -> io::Result<Reader> { Ok(Box::new(pipe::Receiver::from_file(f)?)) };
    open(fd, from_pipe, |s| Box::new(s))
}

fn writer(fd: OwnedFd) -> io::Result<Writer> {
    let from_pipe = |f| -> io::Result<Writer> { Ok(Box::new(pipe::Sender::from_file(f)?)) };
    open(fd, from_pipe, |s| Box::new(s))
}

/// `fd` as the end of a pipe (through `fifo`) or as a non-blocking socket (through `sock`).
fn open<T>(
    fd: OwnedFd,
    fifo: impl FnOnce(File) -> io::Result<T>,
    sock: impl FnOnce(tokio::net::UnixStream) -> T,
) -> io::Result<T> {
    let file = File::from(fd);
    if file.metadata()?.file_type().is_fifo() {
        fifo(file)
    } else {
        Ok(sock(socket(file)?))
    }
}

fn socket(file: File) -> io::Result<tokio::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(file));
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}
