"""drums_rnn: learn drum grooves from MIDI and write new ones (Magenta's Drums RNN, rebuilt on TF2)."""

from setuptools import find_packages, setup

setup(
    name='drums_rnn',
    version='0.1.0',
    description="Drums RNN: an LSTM + attention language model over drum events, compatible with Magenta's files.",
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.11',
    packages=find_packages(include=['drums_rnn', 'drums_rnn.*']),
    include_package_data=True,
    package_data={'drums_rnn': ['models/*.mag', 'models/*.json', 'models/drum_kit_magentajs/*',
                                'studio/static/*']},
    install_requires=[
        'tensorflow>=2.16,<2.22',
        'tensorboard',
        'note-seq==0.0.5',
        'protobuf>=5.26,<7',
        'numpy',
        'scipy',
        'absl-py',
        'google-crc32c',
        'pretty_midi',
        'matplotlib',
        'flask',
    ],
    entry_points={
        'console_scripts': [
            'convert_dir_to_note_sequences=drums_rnn.cli.convert_dir_to_note_sequences:console_main',
            'drums_rnn_create_dataset=drums_rnn.cli.drums_rnn_create_dataset:console_main',
            'drums_rnn_train=drums_rnn.cli.drums_rnn_train:console_main',
            'drums_rnn_generate=drums_rnn.cli.drums_rnn_generate:console_main',
            'drums_rnn_evaluate=drums_rnn.cli.drums_rnn_evaluate:console_main',
            'drums_rnn_humanize=drums_rnn.cli.drums_rnn_humanize:console_main',
            'drums_rnn_studio=drums_rnn.cli.drums_rnn_studio:console_main',
            'drums_rnn_export_magentajs=drums_rnn.cli.drums_rnn_export_magentajs:console_main',
        ],
    },
)
