// SPDX-License-Identifier: MIT
// gen_compat.js — asks the peers' own SDKs (run offline, flags bootstrapped,
// no server) which unit ids are in at each weight, and prints the vectors
// of tests/vectors/compat/vectors.json. Run through gen_compat.sh, which
// installs the pinned SDK versions into a temporary folder.
//
// Each mode is one flag per weight, evaluated for every id by the SDK's
// public evaluation call. Per id and mode the file keeps the index of the
// first weight at which the SDK answered "in" (weights.length: never),
// after checking that the SDK's answers are monotone in the weight.
'use strict';
const path = require('path');
const root = process.argv[2];
const req = (m) => require(path.join(root, 'node_modules', m));
const version = (m) => req(m + '/package.json').version;

// weights in units of 0.001 % (docs/bucketing.md): the ends, 0.001 % steps
// around 25 %, and the rounding edges of each peer's granularity
const weights = [0, 1, 9, 10, 999, 1000, 1001, 5000, 10000, 12345, 20000];
for (let w = 24990; w <= 25010; w++) weights.push(w);
weights.push(25100, 25500, 33333, 50000, 66667, 75000, 99000, 99900, 99990, 99999, 100000);

// ---- unit ids ------------------------------------------------------------
// Deterministic (an LCG), so the file only changes when the SDKs do.
let seed = 20260301;
const rnd = (n) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const hex = (n) => Array.from({length: n}, () => '0123456789abcdef'[rnd(16)]).join('');
const ids = []; // Buffers: the exact bytes of each id
const text = (s) => ids.push(Buffer.from(s, 'utf8'));
for (let i = 0; i < 3300; i++) text(`user-${i}`);
for (let i = 0; i < 1500; i++) text(`org-${rnd(1e9)}`);
for (let i = 0; i < 1500; i++) text(`${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`);
for (let i = 0; i < 1000; i++) text(`person${i}@example.com`);
for (let i = 0; i < 1000; i++) text(String(rnd(1e9)));
// every length class of the hashes' block loops
for (let n = 1; n <= 40; n++) for (let k = 0; k < 5; k++) text(hex(n));
// Unicode: Latin-1, BMP beyond Latin-1, non-BMP (surrogate pairs in the
// SDKs' UTF-16 strings), combining marks, ZWJ sequences
const uni = ['café', 'cafe\u0301', 'naïve', 'Ærøskøbing', 'Ünïcödé', 'ÿ', 'é',
  '用户', '顧客-42', 'пользователь', 'χρήστης', 'مستخدم', 'उपयोगकर्ता', '🚀', '👩‍💻',
  '🇫🇷', 'a😀b', '𝔘𝔫𝔦', '\u{10ffff}', '\u{fffd}', 'Ω≈ç√', '\u00a0nbsp', 'ä', 'ö', 'ü'];
for (const u of uni) text(u);
for (let i = 0; i < 1500; i++) {
  let s = '';
  const n = 1 + rnd(12);
  for (let k = 0; k < n; k++) {
    const r = rnd(6);
    s += r === 0 ? String.fromCharCode(0x20 + rnd(95))
       : r === 1 ? String.fromCharCode(0xa0 + rnd(0x160))
       : r === 2 ? String.fromCharCode(0x400 + rnd(0x100))
       : r === 3 ? String.fromCharCode(0x4e00 + rnd(0x5000))
       : r === 4 ? String.fromCodePoint(0x1f300 + rnd(0x300))
       : String.fromCharCode(0x8000 + rnd(0x5000)); // high BMP code units
  }
  text(s);
}
// long ids
for (const n of [63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096, 4097, 5000, 10000])
  text(hex(n));
text('é'.repeat(600));
text('😀'.repeat(300));
// bytes that are not UTF-8: the SDKs see them as Node decodes them
for (const h of ['ff', 'fe', 'c0af', 'e282', 'ed a0 80'.replace(/ /g, ''), '80', 'a9',
  '61ff62', 'f0908080', 'f4908080', 'c3', 'e2', 'f09f98', '61c3', 'c328',
  'e228a1', 'fffe', '616263ff', 'ff616263', 'c0c1f5f6f7'])
  ids.push(Buffer.from(h, 'hex'));
ids.push(Buffer.alloc(0)); // the empty id: every peer leaves it out

const strs = ids.map((b) => b.toString('utf8'));

// ---- the SDKs --------------------------------------------------------------
const KEY = 'checkout-v2';
const LD_SALT = '7c3f1a9e';

async function unleash() {
  const {Unleash, InMemStorageProvider} = req('unleash-client');
  const features = weights.map((w, i) => ({
    name: `w${i}`, enabled: true,
    strategies: [{name: 'flexibleRollout', parameters:
      {rollout: String(w / 1000), stickiness: 'userId', groupId: KEY}}],
  }));
  const client = new Unleash({appName: 'compat-vectors', url: 'http://127.0.0.1:9/api',
    refreshInterval: 0, disableMetrics: true, storageProvider: new InMemStorageProvider(),
    bootstrap: {data: features}, skipInstanceCountWarning: true});
  client.on('error', () => {});
  await new Promise((resolve) => client.once('ready', resolve));
  const r = (s, i) => client.isEnabled(`w${i}`, {userId: s});
  const out = {hash: 'unleash', key: KEY, peer: 'unleash-client', version: version('unleash-client'),
    sdk_call: 'Unleash.isEnabled, strategy flexibleRollout {rollout, stickiness: userId, groupId: key}'};
  out.first_in = run(r);
  client.destroy();
  return out;
}

function growthbook(v) {
  const {GrowthBook} = req('@growthbook/growthbook');
  const features = {};
  weights.forEach((w, i) => {
    features[`w${i}`] = {defaultValue: false,
      rules: [{force: true, coverage: w / 100000, hashAttribute: 'id', seed: KEY, hashVersion: v}]};
  });
  const gb = new GrowthBook({features});
  const r = (s, i) => gb.evalFeature(`w${i}`).on;
  const out = {hash: `growthbook_v${v}`, key: KEY, peer: '@growthbook/growthbook',
    version: version('@growthbook/growthbook'),
    sdk_call: `GrowthBook.evalFeature, rule {force: true, coverage, hashAttribute: id, seed: key, hashVersion: ${v}}`};
  out.first_in = run(r, (s) => gb.setAttributes({id: s}));
  gb.destroy();
  return out;
}

async function launchdarkly() {
  const ld = req('@launchdarkly/node-server-sdk');
  const td = new ld.integrations.TestData();
  const flag = (w, version) => ({key: KEY, version, on: true, salt: LD_SALT,
    variations: [true, false], offVariation: 1,
    fallthrough: {rollout: {variations: [{variation: 0, weight: w}, {variation: 1, weight: 100000 - w}]}}});
  await td.usePreconfiguredFlag(flag(0, 1));
  const client = ld.init('sdk-offline', {updateProcessor: td.getFactory(), sendEvents: false,
    diagnosticOptOut: true, logger: ld.basicLogger({level: 'none'})});
  await client.waitForInitialization({timeout: 10});
  // one flag whose weight is raised, as in a rollout: the flag key is hashed
  const first_in = await runByWeight(async (i) => { await td.usePreconfiguredFlag(flag(weights[i], i + 2)); },
    (s) => client.variation(KEY, {kind: 'user', key: s}, false));
  client.close();
  return {hash: 'launchdarkly', key: `${KEY}.${LD_SALT}`, flag_key: KEY, salt: LD_SALT,
    peer: '@launchdarkly/node-server-sdk', version: version('@launchdarkly/node-server-sdk'),
    evaluator: '@launchdarkly/js-server-sdk-common ' + version('@launchdarkly/js-server-sdk-common'),
    sdk_call: 'LDClient.variation, fallthrough rollout [{variation: new, weight}, {variation: old, weight: 100000 - weight}], salt',
    first_in};
}

async function flagd() {
  const {FlagdCore} = req('@openfeature/flagd-core');
  const core = new FlagdCore();
  const quiet = {debug() {}, info() {}, warn() {}, error() {}};
  const first_in = await runByWeight((i) => {
    core.setConfigurations(JSON.stringify({flags: {[KEY]: {state: 'ENABLED',
      variants: {on: true, off: false}, defaultVariant: 'off',
      targeting: {fractional: [['on', weights[i]], ['off', 100000 - weights[i]]]}}}}));
  }, (s) => core.resolveBooleanEvaluation(KEY, false, {targetingKey: s}, quiet).value);
  return {hash: 'flagd', key: KEY, peer: '@openfeature/flagd-core', version: version('@openfeature/flagd-core'),
    sdk_call: 'FlagdCore.resolveBooleanEvaluation, targeting {fractional: [[on, weight], [off, 100000 - weight]]}',
    first_in};
}

// The same, one weight at a time over every id, for the peers that hash the
// flag key: the flag stays, its weight changes.
async function runByWeight(setWeight, answer) {
  const first = strs.map(() => weights.length);
  for (let i = 0; i < weights.length; i++) {
    await setWeight(i);
    for (let j = 0; j < strs.length; j++) {
      const on = await answer(strs[j]);
      if (on && first[j] === weights.length) first[j] = i;
      if (!on && first[j] < weights.length) throw new Error(`not monotone for ${JSON.stringify(strs[j])}`);
    }
  }
  return first;
}

// the first weight each id is in at, checking the answers are monotone
function run(answer, setup) {
  return strs.map((s) => {
    if (setup) setup(s);
    let first = weights.length;
    for (let i = 0; i < weights.length; i++) {
      const on = answer(s, i);
      if (on && first === weights.length) first = i;
      if (!on && first < weights.length) throw new Error(`not monotone for ${JSON.stringify(s)}`);
    }
    return first;
  });
}

(async () => {
  const modes = [await unleash(), growthbook(1), growthbook(2), await launchdarkly(), await flagd()];
  // ids as text when they are UTF-8 that round-trips (and JSON/YAML-safe),
  // else as hex
  const idOut = ids.map((b, i) => {
    const ok = Buffer.from(strs[i], 'utf8').equals(b) && !/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(strs[i]);
    return ok ? strs[i] : {hex: b.toString('hex')};
  });
  const doc = {
    about: 'Which unit ids each peer SDK puts on the new version at each weight (0.001 % units). ' +
      'first_in[mode][i] is the index in weights of the first weight at which ids[i] is in; ' +
      'weights.length means never. Generated by tests/vectors/compat/gen_compat.sh; do not edit.',
    node: process.version,
    // the packages that hash, as npm ci installed them from package-lock.json
    packages: Object.fromEntries(['unleash-client', 'murmurhash3js', '@growthbook/growthbook',
      '@launchdarkly/node-server-sdk', '@launchdarkly/js-server-sdk-common', '@openfeature/flagd-core',
      'imurmurhash'].map((m) => [m, version(m)])),
    weights, ids: idOut, modes,
  };
  // one line per array, so a diff points at the mode that changed
  process.stdout.write(format(doc));
})().catch((e) => { console.error(e); process.exit(1); });

function format(doc) {
  const lines = ['{'];
  const keys = Object.keys(doc);
  keys.forEach((k, n) => {
    const comma = n + 1 < keys.length ? ',' : '';
    if (k === 'modes') {
      lines.push(' "modes": [');
      doc.modes.forEach((m, j) => {
        const mk = Object.keys(m);
        lines.push('  {');
        mk.forEach((kk, q) => lines.push(`   ${JSON.stringify(kk)}: ${JSON.stringify(m[kk])}${q + 1 < mk.length ? ',' : ''}`));
        lines.push(`  }${j + 1 < doc.modes.length ? ',' : ''}`);
      });
      lines.push(` ]${comma}`);
    } else {
      lines.push(` ${JSON.stringify(k)}: ${JSON.stringify(doc[k])}${comma}`);
    }
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}
