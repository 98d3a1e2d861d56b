"""Instruction data: conversion to LLaVA's conversation format, and the torch dataset."""

from sbt_train.data.records import Conversation, LoadReport, load_records

__all__ = ["Conversation", "LoadReport", "load_records"]
