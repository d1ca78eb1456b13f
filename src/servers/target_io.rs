//! A connection whose reads come out with the high and control bytes of every
//! request-target percent-encoded (`request_target` finds them); writes go
//! to the connection unchanged. The servers accept every connection
//! through it ([`EncodingListener`] for axum, [`EncodedTargets::new`] for
//! a connection served by hand), so a path sent as raw invalid UTF-8 is
//! answered by the server, as Swift's servers answer it, instead of
//! refused by hyper's parser.
//!
//! Cost: the bytes of each request head are looked at once more; bodies
//! are skipped by count and pass in the same buffer, without a copy.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::request_target::{encode, TargetScanner};

/// A stream read with its request-targets' high and control bytes encoded.
#[derive(Debug)]
pub struct EncodedTargets<S> {
    inner: S,
    scanner: TargetScanner,
    /// Bytes read from `inner` and not handed out yet: what followed a
    /// byte that grew into `%XX` when the reader's buffer had no room left.
    held: Vec<u8>,
    held_at: usize,
    /// The part of a `%XX` that did not fit.
    carry: [u8; 3],
    carry_at: usize,
}

impl<S> EncodedTargets<S> {
    pub fn new(inner: S) -> EncodedTargets<S> {
        EncodedTargets {
            inner,
            scanner: TargetScanner::new(),
            held: Vec::new(),
            held_at: 0,
            carry: [0; 3],
            carry_at: 3,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn has_pending(&self) -> bool {
        self.carry_at < 3 || self.held_at < self.held.len()
    }

    /// Hands out carried and held bytes, encoding as it goes, until they
    /// run out or `buf` is full.
    fn drain(&mut self, buf: &mut ReadBuf<'_>) {
        loop {
            while self.carry_at < 3 && buf.remaining() > 0 {
                buf.put_slice(&self.carry[self.carry_at..=self.carry_at]);
                self.carry_at += 1;
            }
            if self.carry_at < 3 || buf.remaining() == 0 {
                return;
            }
            if self.held_at == self.held.len() {
                self.held.clear();
                self.held_at = 0;
                return;
            }
            let rest = &self.held[self.held_at..];
            let room = rest.len().min(buf.remaining());
            let n = self.scanner.scan(&rest[..room]);
            buf.put_slice(&rest[..n]);
            self.held_at += n;
            if n < room {
                self.carry = encode(rest[n]);
                self.carry_at = 0;
                self.held_at += 1;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EncodedTargets<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.has_pending() {
            this.drain(buf);
            return Poll::Ready(Ok(()));
        }
        if this.scanner.is_passthrough() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let start = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let fresh = &buf.filled()[start..];
        let n = this.scanner.scan(fresh);
        if n < fresh.len() {
            // Keep the rest (from the byte to encode on) and hand it out
            // encoded in the room it leaves.
            this.held.extend_from_slice(&fresh[n..]);
            buf.set_filled(start + n);
            this.drain(buf);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EncodedTargets<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An axum listener whose connections are [`EncodedTargets`].
pub struct EncodingListener<L>(pub L);

impl<L> axum::serve::Listener for EncodingListener<L>
where
    L: axum::serve::Listener,
{
    type Io = EncodedTargets<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (EncodedTargets::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
