// SPDX-License-Identifier: AGPL-3.0-or-later
// The reference PDS, configured from PDS_* environment variables (as in
// bluesky-social/atproto services/pds/index.js), listening on loopback only.
import './bind-loopback.cjs'
import fs from 'node:fs'
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'

const env = readEnv()
for (const dir of [env.dataDirectory, env.blobstoreDiskLocation]) {
  if (dir) fs.mkdirSync(dir, { recursive: true })
}
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.start()
console.log('pds running on port', env.port)
const stop = async () => {
  await pds.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
