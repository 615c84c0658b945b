// RFC 6238 TOTP (the authenticator-app side), written from the RFCs with node:crypto.
import { createHmac } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/=+$/, '').replace(/\s+/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = B32.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** Parameters from an otpauth:// URL (period, digits, algorithm), with RFC defaults. */
export function otpauthParams(url) {
  const u = new URL(url);
  return {
    secret: u.searchParams.get('secret'),
    period: Number(u.searchParams.get('period') || 30),
    digits: Number(u.searchParams.get('digits') || 6),
    algorithm: (u.searchParams.get('algorithm') || 'SHA1').toUpperCase(),
  };
}

export function hotp(secret, counter, { digits = 6, algorithm = 'SHA1' } = {}) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm.toLowerCase(), base32Decode(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

export function currentStep(period = 30, now = Date.now()) {
  return Math.floor(now / 1000 / period);
}

/**
 * An authenticator that never presents the same time-step twice (authgate refuses replays,
 * fixing upstream W2). When the current step was already used it answers with the next
 * step's code, which the contract's ±1-step window accepts; after that it waits.
 */
export class Authenticator {
  constructor(secret, { period = 30, digits = 6, algorithm = 'SHA1' } = {}) {
    Object.assign(this, { secret, period, digits, algorithm });
    this.lastStep = -1;
  }

  static fromSetup(setup) {
    const p = setup.otpAuthUrl ? otpauthParams(setup.otpAuthUrl) : {};
    return new Authenticator(setup.secret, p);
  }

  async code() {
    for (;;) {
      const now = currentStep(this.period);
      const step = Math.max(now, this.lastStep + 1);
      if (step <= now + 1) {
        this.lastStep = step;
        return hotp(this.secret, step, this);
      }
      const msLeft = (now + 1) * this.period * 1000 - Date.now();
      await new Promise((r) => setTimeout(r, msLeft + 50));
    }
  }
}
