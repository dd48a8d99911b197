// A TCP proxy in front of PostgreSQL that delays a publish's COMMIT instead of losing it: on a connection
// that sent pg_notify (the publish transaction, store/pointer.ts), the COMMIT and everything after it is
// held back until release(), when it is forwarded to the server (if the server still listens on that
// session). The client times out meanwhile, exactly as when the network stalls a COMMIT in flight.
import net from 'node:net';

export async function holdingProxy(target: URL) {
  const held: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  let holdUp: net.Socket | undefined;
  let upClosed = false;
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.port), target.hostname);
    sockets.add(down).add(up);
    let notified = false;
    let holding = false;
    down.on('data', (d) => {
      const text = d.toString('latin1');
      if (text.includes('pg_notify')) notified = true;
      if (notified && !holding && /Q[\s\S]{4}commit\0/i.test(text)) {
        holding = true;
        holdUp = up;
        up.on('close', () => {
          upClosed = true;
        });
      }
      if (holding) held.push(d);
      else up.write(d);
    });
    up.on('data', (d) => {
      if (!holding) down.write(d);
    });
    down
      .on('error', () => {})
      .on('close', () => {
        if (!holding) up.destroy();
      });
    up.on('error', () => {}).on('close', () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target.toString());
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    /** A COMMIT is being held. */
    holding: () => holdUp !== undefined,
    /** The server closed the session whose COMMIT is held. */
    sessionClosed: () => upClosed,
    /** Forwards the held COMMIT (if the session is still open), waits for the server to act on it, then closes. */
    async release() {
      if (holdUp && !holdUp.destroyed) for (const d of held) holdUp.write(d);
      await new Promise((r) => setTimeout(r, 500));
      holdUp?.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
