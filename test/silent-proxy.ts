// A TCP proxy in front of PostgreSQL that can go silent, for the half-open cases (faults, serve-memory-outage).
import net from 'node:net';

/** A TCP proxy that can go silent: it keeps both sockets open but stops forwarding (a half-open link). */
export async function silentProxy(target: URL) {
  let silent = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.port), target.hostname);
    sockets.add(down).add(up);
    down.on('data', (d) => {
      if (!silent) up.write(d);
    });
    up.on('data', (d) => {
      if (!silent) down.write(d);
    });
    const close = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(target.toString());
  url.port = String(port);
  url.hostname = '127.0.0.1';
  return {
    url: url.toString(),
    goSilent: () => {
      silent = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
