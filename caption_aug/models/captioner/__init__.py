"""The captioner: encoder, a decoder (Show-Attend-Tell's soft attention + gated LSTM, or a
transformer), loss, batched beam search (`caption_aug.models.captioner.beam_search.beam_search`)."""

from caption_aug.models.captioner.beam_search import BeamSearchResult
from caption_aug.models.captioner.captioner import Captioner, build_captioner, detokenize
from caption_aug.models.captioner.decoder import AttentionDecoder
from caption_aug.models.captioner.encoder import build_encoder
from caption_aug.models.captioner.loss import (CaptionLoss, attention_supervision_loss,
                                              caption_loss, teacher_forced_loss, teacher_forcing)
from caption_aug.models.captioner.transformer_decoder import TransformerCaptionDecoder
