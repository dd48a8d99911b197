// A TCP proxy in front of PostgreSQL that loses the reply to a publish's COMMIT: on a connection that sent
// pg_notify (the publish transaction, store/pointer.ts), the next COMMIT is forwarded to the server, and
// when the server's answer comes back both sockets are closed instead. The server has committed; the
// client sees its connection die, exactly as when a network cut falls between the two.
import net from 'node:net';

/** `refuseAfterCut`: once a reply is lost, new connections are closed at once (the pointer cannot be re-read either). */
export async function lostReplyProxy(target: URL, opts: { refuseAfterCut?: boolean } = {}) {
  const sockets = new Set<net.Socket>();
  let cut = 0;
  const server = net.createServer((down) => {
    if (opts.refuseAfterCut && cut > 0) {
      down.destroy();
      return;
    }
    const up = net.connect(Number(target.port), target.hostname);
    sockets.add(down).add(up);
    let notified = false;
    let committing = false;
    const close = () => {
      down.destroy();
      up.destroy();
    };
    down.on('data', (d) => {
      const text = d.toString('latin1');
      if (text.includes('pg_notify')) notified = true;
      // the simple-protocol Query message 'Q' of client.query('commit')
      if (notified && /Q[\s\S]{4}commit\0/i.test(text)) committing = true;
      up.write(d);
    });
    up.on('data', (d) => {
      if (committing) {
        cut++;
        close();
        return;
      }
      down.write(d);
    });
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target.toString());
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    /** Replies withheld so far. */
    cuts: () => cut,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
