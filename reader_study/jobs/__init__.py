"""Jobs on GPU workers: denoising and training, with the database row as the truth.

- lifecycle: states, claim/heartbeat/fence, finish, cancel, retry;
- launch: starting jobs (on demand, after ingest, training);
- sweeper: re-queues jobs whose worker or broker message was lost;
- denoise / training: the work itself, run by reader_study.tasks.gpu;
- dispatch / broker: sending and looking for messages.
"""
