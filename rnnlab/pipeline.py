"""What the command line does, reachable from Python, by concern:

    rnnlab.prepare          files -> vocabulary -> encoded corpora -> batches (DataConfig, prepare_data)
    rnnlab.training.entry   training a language model from files (train_language_model)
    rnnlab.use              evaluation and sampling of a trained model (evaluate_model, generate_text)

This module keeps rnnlab 0.2's names importable from one place.
"""
from .prepare import EVAL_BATCH, DataConfig, SentenceData, StreamData, eval_batches, prepare_data, skipped_lines_note
from .training import TrainConfig, Trainer, evaluate
from .training.entry import train_language_model, write_training_report
from .use import evaluate_model, generate_text, load_for_use, load_trained

__all__ = ["EVAL_BATCH", "DataConfig", "SentenceData", "StreamData", "eval_batches", "prepare_data",
           "skipped_lines_note", "TrainConfig", "Trainer", "evaluate", "train_language_model",
           "write_training_report", "evaluate_model", "generate_text", "load_for_use", "load_trained"]
