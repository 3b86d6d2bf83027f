import type express from 'express';
import { MediaRefusal } from './media';
import type { EmulatorState } from './state';

/** The /_emulator/media controls: the uploads made (with the states STATUS reported), and the processing time and expiry. */
export function addMediaControls(router: express.Router, state: EmulatorState): void {
  router.get('/media', (_req, res) => {
    res.json({ uploads: state.media.list(), behaviour: state.media.behaviour() });
  });
  router.post('/media/behaviour', (req, res) => {
    try {
      res.json(state.media.setBehaviour(req.body && typeof req.body === 'object' ? req.body : {}));
    } catch (error) {
      if (!(error instanceof MediaRefusal)) throw error;
      res.status(400).json({ error: error.message });
    }
  });
}
