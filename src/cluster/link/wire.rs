//! Link frames: `u32` big-endian length, a kind byte, the body (see the parent module), and
//! the body of a `PUBLISHES` frame: publishes coalesced into one frame, each `u64` id, `u32`
//! length, message.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Bytes asked of the socket per read by a link connection's reader.
pub(super) const READ_BUF: usize = 64 * 1024;

/// A frame in a read buffer: its kind, its body and the bytes it takes there.
pub(super) type Framed<'a> = (u8, &'a [u8], usize);

/// The first complete frame in `buf`; `None` until all of it has arrived.
pub(super) fn next_frame(buf: &[u8]) -> Result<Option<Framed<'_>>, LinkError> {
    let Some(head) = buf.get(..5) else { return Ok(None) };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(LinkError::Protocol(format!("bad frame length {len}")));
    }
    Ok(buf.get(5..4 + len).map(|body| (head[4], body, 4 + len)))
}

pub(super) fn split_id(body: &[u8]) -> Option<(u64, &[u8])> {
    let id = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    Some((id, body.get(8..)?))
}

/// Most publishes in one `PUBLISHES` frame.
pub(super) const BATCH_MAX_COUNT: usize = 256;
/// Most bytes of one `PUBLISHES` frame's entries: a batch fills about one write buffer, and a
/// larger message goes in a `PUBLISH` frame of its own.
pub(super) const BATCH_MAX_BYTES: usize = 60 * 1024;
/// Bytes before each message in a `PUBLISHES` body: its id and its length.
const ENTRY_HEAD: usize = 12;

/// Whether a message of `len` bytes may join a batch that holds `count` messages in `bytes`
/// bytes of entries.
pub(super) fn fits_batch(count: usize, bytes: usize, len: usize) -> bool {
    count < BATCH_MAX_COUNT && bytes + ENTRY_HEAD + len <= BATCH_MAX_BYTES
}

/// Bytes a message of `len` bytes takes in a `PUBLISHES` body.
pub(super) fn entry_len(len: usize) -> usize {
    ENTRY_HEAD + len
}

/// Write one `PUBLISHES` frame of `(id, message)` entries, whose entry bytes the caller has
/// kept within [`BATCH_MAX_BYTES`] with [`fits_batch`].
pub(super) async fn write_batch<W: AsyncWriteExt + Unpin>(w: &mut W, entries: &[(u64, Bytes)]) -> std::io::Result<()> {
    let len = 1 + entries.iter().map(|(_, m)| entry_len(m.len())).sum::<usize>();
    let len = u32::try_from(len).map_err(|_| std::io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&[PUBLISHES]).await?;
    for (id, m) in entries {
        let n = u32::try_from(m.len()).map_err(|_| std::io::Error::other("message too large"))?;
        let mut head = [0u8; ENTRY_HEAD];
        head[..8].copy_from_slice(&id.to_be_bytes());
        head[8..].copy_from_slice(&n.to_be_bytes());
        w.write_all(&head).await?;
        w.write_all(m).await?;
    }
    Ok(())
}

/// The `(id, message)` entries of a `PUBLISHES` body, in order; an entry that does not fit the
/// body is an error (and ends the iteration).
pub(super) fn batch_entries(body: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), LinkError>> {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let entry = split_id(rest).and_then(|(id, r)| {
            let n = u32::from_be_bytes(r.get(..4)?.try_into().ok()?) as usize;
            let m = r.get(4..4 + n)?;
            Some((id, m, r.get(4 + n..)?))
        });
        match entry {
            Some((id, m, r)) => {
                rest = r;
                Some(Ok((id, m)))
            }
            None => {
                rest = &[];
                Some(Err(LinkError::Protocol("truncated entry in a publish batch".into())))
            }
        }
    })
}

/// Write the publishes collected in `run`: one `PUBLISHES` frame, or a `PUBLISH` frame when
/// there is just one (or one too large for any batch). The frames written: 0 or 1.
pub(super) async fn write_run<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    run: &mut Vec<(u64, Bytes)>,
) -> std::io::Result<u64> {
    let r = match run.as_slice() {
        [] => return Ok(0),
        [(id, message)] => write_frame(w, PUBLISH, &[&id.to_be_bytes(), message]).await,
        entries => write_batch(w, entries).await,
    };
    run.clear();
    r.map(|()| 1)
}

pub(super) async fn write_frame<W: AsyncWriteExt + Unpin>(w: &mut W, kind: u8, parts: &[&[u8]]) -> std::io::Result<()> {
    let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let len = u32::try_from(len).map_err(|_| std::io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&[kind]).await?;
    for p in parts {
        w.write_all(p).await?;
    }
    Ok(())
}

/// Read one frame of at most `max` bytes (before the handshake completes: a few KiB, so an
/// unauthenticated peer cannot make this node allocate much).
pub(super) async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R, max: usize) -> Result<(u8, Vec<u8>), LinkError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).await?;
    let [a, b, c, d, kind] = head;
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if len == 0 || len > max {
        return Err(LinkError::Protocol(format!("bad frame length {len}")));
    }
    let mut buf = vec![0u8; len - 1];
    r.read_exact(&mut buf).await?;
    Ok((kind, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_from_a_read_buffer() {
        let mut b = Vec::new();
        b.extend_from_slice(&4u32.to_be_bytes());
        b.push(PUBLISH);
        b.extend_from_slice(b"abc");
        b.extend_from_slice(&2u32.to_be_bytes());
        b.push(REQUEST);
        // The second frame's body is still on its way.
        let (kind, body, used) = next_frame(&b).expect("valid").expect("complete");
        assert_eq!((kind, body, used), (PUBLISH, &b"abc"[..], 8));
        assert!(next_frame(&b[used..]).expect("valid").is_none());
        b.push(b'x');
        assert_eq!(next_frame(&b[used..]).expect("valid"), Some((REQUEST, &b"x"[..], 6)));
        assert!(next_frame(&b[..3]).expect("valid").is_none(), "header not complete yet");
        assert!(next_frame(&[0, 0, 0, 0, 1]).is_err(), "length 0");
        assert!(next_frame(&u32::MAX.to_be_bytes()).is_ok(), "4 bytes: header not complete");
        let mut huge = (MAX_FRAME as u32 + 1).to_be_bytes().to_vec();
        huge.push(PUBLISH);
        assert!(next_frame(&huge).is_err(), "over the frame limit");
    }

    fn batch(n: usize, size: usize) -> Vec<(u64, Bytes)> {
        (0..n).map(|i| (i as u64, Bytes::from(vec![i as u8; size + i % 3]))).collect()
    }

    #[tokio::test]
    async fn a_batch_frame_round_trips() {
        let entries = batch(5, 10);
        let mut b = Vec::new();
        write_batch(&mut b, &entries).await.expect("written");
        let (kind, body, used) = next_frame(&b).expect("valid").expect("complete");
        assert_eq!((kind, used), (PUBLISHES, b.len()));
        let got: Vec<(u64, Vec<u8>)> =
            batch_entries(body).map(|e| e.map(|(id, m)| (id, m.to_vec()))).collect::<Result<_, _>>().expect("entries");
        let want: Vec<(u64, Vec<u8>)> = entries.iter().map(|(id, m)| (*id, m.to_vec())).collect();
        assert_eq!(got, want);
        // An empty message is an entry too.
        let mut b = Vec::new();
        write_batch(&mut b, &[(9, Bytes::new())]).await.expect("written");
        let (_, body, _) = next_frame(&b).expect("valid").expect("complete");
        assert_eq!(batch_entries(body).map(|e| e.expect("entry")).collect::<Vec<_>>(), [(9, &b""[..])]);
    }

    #[tokio::test]
    async fn a_batch_split_across_reads_is_cut_once_complete() {
        let entries = batch(40, 100);
        let mut wire = Vec::new();
        write_batch(&mut wire, &entries).await.expect("written");
        write_frame(&mut wire, PUBLISH, &[&7u64.to_be_bytes(), b"after"]).await.expect("written");
        // Arrives in reads of 333 bytes: nothing is cut until a whole frame is there.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(333) {
            buf.extend_from_slice(chunk);
            while let Some((kind, body, used)) = next_frame(&buf).expect("valid") {
                match kind {
                    PUBLISHES => got.extend(batch_entries(body).map(|e| e.expect("entry").0)),
                    PUBLISH => got.push(split_id(body).expect("id").0),
                    k => panic!("unexpected kind {k}"),
                }
                buf.drain(..used);
            }
        }
        assert!(buf.is_empty());
        let mut want: Vec<u64> = entries.iter().map(|e| e.0).collect();
        want.push(7);
        assert_eq!(got, want);
    }

    #[test]
    fn truncated_or_overlong_entries_are_errors() {
        let mut body = Vec::new();
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&3u32.to_be_bytes());
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&2u64.to_be_bytes());
        body.extend_from_slice(&10u32.to_be_bytes());
        body.extend_from_slice(b"short");
        let got: Vec<_> = batch_entries(&body).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().expect("first entry"), &(1, &b"abc"[..]));
        assert!(got[1].is_err(), "the second entry claims more bytes than the body has");
        assert!(batch_entries(&body[..5]).next().expect("one item").is_err(), "id cut short");
        assert!(batch_entries(&[]).next().is_none());
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        // Count: the 257th small message starts a new batch.
        assert!(fits_batch(BATCH_MAX_COUNT - 1, 0, 10));
        assert!(!fits_batch(BATCH_MAX_COUNT, 0, 10));
        // Bytes: entries (with their heads) up to the limit, not one byte over.
        let room = BATCH_MAX_BYTES - 100;
        assert!(fits_batch(1, 100, room - ENTRY_HEAD));
        assert!(!fits_batch(1, 100, room - ENTRY_HEAD + 1));
        // A message too large for any batch never fits, not even an empty one.
        assert!(!fits_batch(0, 0, BATCH_MAX_BYTES));
        assert_eq!(entry_len(5), 17);
        // A full batch of maximal entries is far below the frame limit.
        assert!(BATCH_MAX_BYTES + 5 < MAX_FRAME);
    }
}
