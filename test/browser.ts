// Headless Chromium for tests: Debian's /usr/bin/chromium (installed by .ci/run) driven by puppeteer-core,
// which downloads nothing. Override the binary with BATCHCAST_CHROMIUM.
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';

export const chromiumPath = process.env.BATCHCAST_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: install it (apt-get install -y chromium; .ci/run does) or set BATCHCAST_CHROMIUM`);
  }
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox; the page is our own local file.
  return puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

export interface Pixels {
  total: number;
  inked: number;
  colors: Record<string, number>;
}

/**
 * Screenshot of one element, decoded by the browser itself (PNG -> <img> -> canvas), counted by pixel:
 * how many are not near-white, and how many are close to each named colour.
 */
export async function screenshotPixels(page: Page, el: ElementHandle, colors: Record<string, string>): Promise<Pixels> {
  const png = await el.screenshot({ encoding: 'base64', type: 'png' });
  return page.evaluate(
    async (b64: string, named: Record<string, string>) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, img.width, img.height).data;
      const targets = Object.entries(named).map(
        ([name, hex]) => [name, parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)] as const,
      );
      const counts: Record<string, number> = Object.fromEntries(targets.map(([n]) => [n, 0]));
      let inked = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        if (r < 240 || g < 240 || b < 240) inked++;
        for (const [name, tr, tg, tb] of targets) if (Math.abs(r - tr) + Math.abs(g - tg) + Math.abs(b - tb) < 30) counts[name]++;
      }
      return { total: data.length / 4, inked, colors: counts };
    },
    png,
    colors,
  );
}
