// SPDX-License-Identifier: AGPL-3.0-or-later
// The PDS and the PLC have no bind-address setting: make every listen(port) in this
// process listen on loopback only (LISTEN_HOST, default 127.0.0.1).
const net = require('node:net')
const HOST = process.env.LISTEN_HOST || '127.0.0.1'
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, HOST)
  }
  return listen.apply(this, args)
}
