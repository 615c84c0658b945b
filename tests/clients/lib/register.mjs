// `node --import ./lib/register.mjs`: install the resolve hook before any test module loads.
import { register } from 'node:module';

register('./esm-extensions.mjs', import.meta.url);
