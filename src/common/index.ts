export * from './types.js';
export * from './constants.js';
export * from './status.js';
export * from './duration.js';
export * from './clock.js';
export * from './options.js';
