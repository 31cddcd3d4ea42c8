// One fast-check seed per test file, fixed by default so CI runs the same cases every time:
// FC_SEED=<integer> replays a given seed, FC_SEED=random draws a new one (for a deeper search).
// The seed is printed when the file starts; fast-check's failure message repeats it with the
// counterexample's path.
import fc from "fast-check";

const DEFAULT_FC_SEED = 20_260_112;

/** Reads FC_SEED, sets it as fast-check's global seed for this file, prints and returns it. */
export function useFcSeed(file: string, env: string | undefined = process.env.FC_SEED): number {
  let seed: number;
  if (env === undefined || env === "") seed = DEFAULT_FC_SEED;
  else if (env === "random") seed = (Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000)) | 0;
  else if (/^-?\d+$/.test(env) && Number.isSafeInteger(Number(env))) seed = Number(env) | 0;
  else throw new Error(`FC_SEED must be an integer or "random", got ${JSON.stringify(env)}`);
  console.log(`[${file}] fast-check seed ${seed} (replay: FC_SEED=${seed}; a new one: FC_SEED=random)`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
  return seed;
}
