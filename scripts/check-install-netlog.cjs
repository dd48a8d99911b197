// Preloaded (NODE_OPTIONS=--require) into npm and every script it runs: logs each outgoing
// connection's host so a test can assert that only the registry was contacted.
const fs = require('node:fs');
const net = require('node:net');
const dns = require('node:dns');
const file = process.env.NETLOG;
const log = (what) => {
  if (file) fs.appendFileSync(file, `${process.pid} ${process.argv.slice(1, 3).join(' ')} ${what}\n`);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const o = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (o && typeof o === 'object') {
    if (!o.path) log(`connect ${o.host ?? 'localhost'}:${o.port}`);
  } else if (typeof o === 'number' || (typeof o === 'string' && /^\d+$/.test(o))) log(`connect ${args[1] ?? 'localhost'}:${o}`);
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  log(`lookup ${host}`);
  return lookup.call(this, host, ...rest);
};
