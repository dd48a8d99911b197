// Random Authorization headers for the fuzz suites (serve-fuzz, serve-score-fuzz), as raw bytes so that
// what an HTTP client refuses to send (controls, UTF-8, huge values) reaches the server too. Each header
// says whether it carries the valid key in a form the server accepts (scheme in any case, spaces around).
export interface FuzzedAuthorization {
  /** The header line's value as sent (UTF-8 or raw bytes), without CR LF. */
  value: Buffer;
  valid: boolean;
}

export function authorizationFuzzer(next: () => number, key: string) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const spaces = () => ' '.repeat(int(1, next() < 0.2 ? 200 : 3));
  const garbage = (n: number) => {
    const bytes = Array.from({ length: n }, () =>
      next() < 0.6 ? int(0x21, 0x7e) : pick([0x00, 0x09, 0x7f, 0x80, 0xc3, 0xff, int(1, 31)]),
    );
    return Buffer.from(bytes.filter((b) => b !== 0x0a && b !== 0x0d)); // CR and LF would end the header line
  };
  const utf8 = (n: number) =>
    Array.from({ length: n }, () => String.fromCodePoint(pick([int(0x80, 0x7ff), int(0x4e00, 0x9fff), int(0x1f300, 0x1faff)]))).join('');
  const tail = () => pick(['A', 'x', '=', '==', '-', '_', '.', '/', '+', '%00', 'é', '\u{1f511}']);
  return (): FuzzedAuthorization => {
    // a cut key with a tail may rebuild the key itself: then it is valid
    const text = (s: string, valid = false) => ({ value: Buffer.from(s, 'utf8'), valid: valid || s === `Bearer ${key}` });
    switch (int(0, 13)) {
      case 0:
        return text(`${pick(['Bearer', 'bearer', 'BEARER', 'BeArEr'])}${spaces()}${key}${next() < 0.5 ? spaces() : ''}`, true);
      case 1:
        return text(`Bearer ${key.slice(0, int(0, key.length - 1))}`); // a valid prefix, cut short
      case 2:
        return text(`Bearer ${key.slice(0, int(4, key.length - 1))}${tail()}${next() < 0.5 ? key.slice(-int(1, 10)) : ''}`); // bad tail
      case 3:
        return text(`Bearer ${key}${tail()}`);
      case 4:
        return text(`${pick(['Basic', 'Token', 'Bearer:', 'Bearer=', 'Digest', 'Bearerx', ''])} ${key}`);
      case 5:
        return { value: Buffer.concat([Buffer.from('Bearer '), garbage(int(0, 120))]), valid: false };
      case 6:
        return text(`Bearer ${utf8(int(1, 40))}`);
      case 7:
        return text(`Bearer ${'A'.repeat(pick([4_000, 4_200, 7_000, 9_000, 20_000]))}`); // huge: 401 or 431
      case 8:
        return text(pick(['', 'Bearer', 'Bearer ', ' ', 'bck_', `Bearer${key}`, 'Bearer bck_', 'Bearer a.b.c', `Bearer ${key} ${key}`]));
      case 9:
        return text(`Bearer ${key.replace(/[0-9a-f]{12}/, (id) => id.split('').reverse().join(''))}`); // another key id
      case 10:
        return text(`Bearer ${key.slice(0, 17)}${'A'.repeat(43)}`); // right id, wrong secret
      case 11:
        return text(`Bearer\t${key}`, true);
      case 12:
        return { value: garbage(int(0, 200)), valid: false };
      default:
        return text(`Bearer ${Buffer.from(utf8(int(1, 20))).toString('base64url')}.${utf8(3)}.x`);
    }
  };
}
